//! # hotline-testbed
//!
//! **Its job:** give tests and benchmarks a small real network on one Linux
//! machine. Each node is a network namespace with one interface; a router
//! namespace joins them (a veth pair per node, one /24 per node, IPv4
//! forwarding). Programs started with [`Bed::command`] run inside a node's
//! namespace and see only its address; files (data directories, Unix
//! control sockets) are shared as usual.
//!
//! **Faults.** [`Bed::cut`] makes the router drop every packet between two
//! nodes without a word (a `blackhole` policy rule: no RST, no ICMP), as a
//! WAN cut or a firewall does; [`Bed::heal`] lifts it. [`Bed::partition`]
//! and [`Bed::silence`] are the same rule for groups and for one node
//! against everyone; [`Bed::delay`] adds latency with `tc netem` where the
//! kernel has it ([`BedError::Unsupported`] elsewhere).
//!
//! **Edges.** It drives `ip` and `tc` (iproute2) and needs root. It knows
//! nothing of Hotline: later issues put NAT and relay nodes on the same
//! router. [`Bed::new`] fails with [`BedError::Unavailable`] where
//! namespaces cannot be made; tests skip on that (see [`Bed::or_skip`]).
//!
//! **Cleanup.** Every process still running in a bed's namespaces is
//! killed and every namespace deleted when the bed is dropped, also when a
//! test panics. A bed holds a lock file (`/run/hotline-testbed/<id>.lock`)
//! while it lives; the next [`Bed::new`] on the machine cleans up the
//! namespaces of every bed whose lock is free (its process was killed
//! outright), whatever PID namespace that process ran in.

use std::net::Ipv4Addr;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// The prefix of every namespace a bed makes: `hlb<pid>x<n>…`.
const PREFIX: &str = "hlb";
/// Where the beds' lock files are.
const LOCK_DIR: &str = "/run/hotline-testbed";

/// Why a bed cannot do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum BedError {
    /// Network namespaces cannot be made here (not root, no iproute2, a
    /// container without the capability). Code `bed_unavailable`.
    #[error("network namespaces are not available: {0}")]
    Unavailable(String),
    /// The kernel lacks what a fault needs (for example `sch_netem` for
    /// delays). Code `bed_unsupported`.
    #[error("not supported on this machine: {0}")]
    Unsupported(String),
    /// A command failed. Code `bed_command_failed`.
    #[error("`{command}` failed: {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// A node index out of range. Code `bed_no_such_node`.
    #[error("no node {0} in this bed")]
    NoSuchNode(usize),
}

impl BedError {
    /// The stable code of the error.
    pub fn code(&self) -> &'static str {
        match self {
            BedError::Unavailable(_) => "bed_unavailable",
            BedError::Unsupported(_) => "bed_unsupported",
            BedError::Command { .. } => "bed_command_failed",
            BedError::NoSuchNode(_) => "bed_no_such_node",
        }
    }
}

/// One node of a bed.
#[derive(Clone, Debug)]
pub struct BedNode {
    /// Its network namespace.
    pub namespace: String,
    /// Its address (on `eth0` in its namespace).
    pub ip: Ipv4Addr,
}

/// A router namespace and `n` node namespaces. See the crate documentation.
#[derive(Debug)]
pub struct Bed {
    /// Held (flock) while the bed lives: a free lock marks an orphan.
    lock: Option<(std::fs::File, std::path::PathBuf)>,
    router: String,
    nodes: Vec<BedNode>,
    /// Whose packets the router drops: (from, to) node pairs.
    cuts: std::collections::BTreeSet<(usize, usize)>,
}

/// Beds made by this process so far (their names must differ).
static BEDS: AtomicU32 = AtomicU32::new(0);

impl Bed {
    /// Makes a bed of `nodes` nodes (at most 200). Node `i` has the address
    /// `10.77.<i+1>.2`, its router side `10.77.<i+1>.1`.
    pub fn new(nodes: usize) -> Result<Bed, BedError> {
        if nodes > 200 {
            return Err(BedError::Unsupported(format!("{nodes} nodes (at most 200)")));
        }
        Bed::check_available()?;
        remove_orphans();
        let id = format!("{PREFIX}{}x{}", std::process::id(), BEDS.fetch_add(1, Ordering::Relaxed));
        let lock = take_lock(&id)?;
        let mut bed = Bed { lock: Some(lock), router: format!("{id}r"), nodes: Vec::new(), cuts: Default::default() };
        ip(&["netns", "add", &bed.router])?;
        run_in(&bed.router, &["sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
        ip(&["-n", &bed.router, "link", "set", "lo", "up"])?;
        for i in 0..nodes {
            let namespace = format!("{id}n{i}");
            // Pushed first: a failure below still deletes this namespace.
            let subnet = u8::try_from(i + 1).map_err(|_| BedError::NoSuchNode(i))?;
            bed.nodes.push(BedNode { namespace: namespace.clone(), ip: Ipv4Addr::new(10, 77, subnet, 2) });
            ip(&["netns", "add", &namespace])?;
            let router_side = format!("n{i}");
            ip(&[
                "link",
                "add",
                "eth0",
                "netns",
                &namespace,
                "type",
                "veth",
                "peer",
                "name",
                &router_side,
                "netns",
                &bed.router,
            ])?;
            let gateway = format!("10.77.{subnet}.1");
            ip(&["-n", &namespace, "addr", "add", &format!("10.77.{subnet}.2/24"), "dev", "eth0"])?;
            ip(&["-n", &bed.router, "addr", "add", &format!("{gateway}/24"), "dev", &router_side])?;
            ip(&["-n", &namespace, "link", "set", "lo", "up"])?;
            ip(&["-n", &namespace, "link", "set", "eth0", "up"])?;
            ip(&["-n", &bed.router, "link", "set", &router_side, "up"])?;
            ip(&["-n", &namespace, "route", "add", "default", "via", &gateway])?;
        }
        Ok(bed)
    }

    /// [`Bed::new`], or `None` with a line on stderr saying why the test is
    /// skipped, where namespaces are not available. With
    /// `HOTLINE_REQUIRE_NETBED=1` (set by `.ci/run` when it runs as root) a
    /// bed must be available: the test fails instead of skipping, so a
    /// broken bed cannot pass for a skipped one.
    pub fn or_skip(nodes: usize, test: &str) -> Option<Bed> {
        let required = std::env::var_os("HOTLINE_REQUIRE_NETBED").is_some_and(|v| v == "1");
        match Bed::new(nodes) {
            Ok(bed) => Some(bed),
            Err(BedError::Unavailable(why)) if !required => {
                eprintln!("skipped {test}: it needs network namespaces (run as root with iproute2): {why}");
                None
            }
            Err(e) => panic!("{test}: cannot make the test bed: {e}"),
        }
    }

    fn check_available() -> Result<(), BedError> {
        let probe = format!("{PREFIX}{}p{}", std::process::id(), BEDS.fetch_add(1, Ordering::Relaxed));
        match Command::new("ip").args(["netns", "add", &probe]).output() {
            Ok(out) if out.status.success() => {
                let _ = Command::new("ip").args(["netns", "del", &probe]).output();
                Ok(())
            }
            Ok(out) => Err(BedError::Unavailable(String::from_utf8_lossy(&out.stderr).trim().to_owned())),
            Err(e) => Err(BedError::Unavailable(format!("cannot run `ip`: {e}"))),
        }
    }

    /// The nodes.
    pub fn nodes(&self) -> &[BedNode] {
        &self.nodes
    }

    /// Node `i`.
    pub fn node(&self, i: usize) -> Result<&BedNode, BedError> {
        self.nodes.get(i).ok_or(BedError::NoSuchNode(i))
    }

    /// A command that runs `program` inside node `i`'s namespace
    /// (`ip netns exec`, which execs it: the child's pid is the program's).
    pub fn command(&self, i: usize, program: impl AsRef<std::ffi::OsStr>) -> Result<Command, BedError> {
        let node = self.node(i)?;
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &node.namespace]).arg(program);
        Ok(command)
    }

    /// Runs `f` on a thread inside node `i`'s namespace: sockets it opens
    /// live there (a network namespace belongs to a thread, not a process).
    pub fn run_in<T: Send + 'static>(&self, i: usize, f: impl FnOnce() -> T + Send + 'static) -> Result<T, BedError> {
        let path = format!("/run/netns/{}", self.node(i)?.namespace);
        let file = std::fs::File::open(&path)
            .map_err(|e| BedError::Command { command: format!("open {path}"), stderr: e.to_string() })?;
        let thread = std::thread::spawn(move || {
            use std::os::fd::AsFd;
            rustix::thread::move_into_link_name_space(file.as_fd(), Some(rustix::thread::LinkNameSpaceType::Network))
                .map(|()| f())
        });
        match thread.join() {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(BedError::Command { command: format!("setns {path}"), stderr: e.to_string() }),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Packets the router has received from node `i` so far: everything
    /// node `i` sent to the others.
    pub fn router_rx_packets(&self, i: usize) -> Result<u64, BedError> {
        self.node(i)?;
        let file = format!("/sys/class/net/n{i}/statistics/rx_packets");
        let command = format!("ip netns exec {} cat {file}", self.router);
        let out = Command::new("ip")
            .args(["netns", "exec", &self.router, "cat", &file])
            .output()
            .map_err(|e| BedError::Command { command: command.clone(), stderr: e.to_string() })?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.trim().parse().map_err(|_| BedError::Command {
            command,
            stderr: format!("{} {}", text.trim(), String::from_utf8_lossy(&out.stderr).trim()),
        })
    }

    /// Drops every packet between nodes `a` and `b`, both ways, silently.
    pub fn cut(&mut self, a: usize, b: usize) -> Result<(), BedError> {
        self.drop_packets(a, b)?;
        self.drop_packets(b, a)
    }

    /// Lifts [`Bed::cut`] between `a` and `b`.
    pub fn heal(&mut self, a: usize, b: usize) -> Result<(), BedError> {
        self.pass_packets(a, b)?;
        self.pass_packets(b, a)
    }

    /// Cuts every node of `left` from every node of `right`.
    pub fn partition(&mut self, left: &[usize], right: &[usize]) -> Result<(), BedError> {
        for &a in left {
            for &b in right {
                self.cut(a, b)?;
            }
        }
        Ok(())
    }

    /// Cuts node `i` from every other node.
    pub fn silence(&mut self, i: usize) -> Result<(), BedError> {
        let others: Vec<usize> = (0..self.nodes.len()).filter(|n| *n != i).collect();
        self.partition(&[i], &others)
    }

    /// Lifts every cut.
    pub fn heal_all(&mut self) -> Result<(), BedError> {
        for (a, b) in self.cuts.clone() {
            self.pass_packets(a, b)?;
        }
        Ok(())
    }

    /// Adds `millis` of latency to every packet node `i` sends, with
    /// `tc netem` ([`BedError::Unsupported`] where the kernel lacks it).
    pub fn delay(&self, i: usize, millis: u32) -> Result<(), BedError> {
        let node = self.node(i)?;
        let delay = format!("{millis}ms");
        match ip_tc(&node.namespace, &["qdisc", "replace", "dev", "eth0", "root", "netem", "delay", &delay]) {
            Err(BedError::Command { stderr, .. }) if stderr.contains("qdisc kind is unknown") => {
                Err(BedError::Unsupported("tc netem (kernel module sch_netem)".into()))
            }
            other => other,
        }
    }

    fn drop_packets(&mut self, from: usize, to: usize) -> Result<(), BedError> {
        if self.cuts.contains(&(from, to)) {
            return Ok(());
        }
        let rule = self.rule(from, to)?;
        let mut args = vec!["-n", self.router.as_str(), "rule", "add"];
        args.extend(rule.iter().map(String::as_str));
        args.push("blackhole");
        ip(&args)?;
        self.cuts.insert((from, to));
        Ok(())
    }

    fn pass_packets(&mut self, from: usize, to: usize) -> Result<(), BedError> {
        if !self.cuts.contains(&(from, to)) {
            return Ok(());
        }
        let rule = self.rule(from, to)?;
        let mut args = vec!["-n", self.router.as_str(), "rule", "del"];
        args.extend(rule.iter().map(String::as_str));
        args.push("blackhole");
        ip(&args)?;
        self.cuts.remove(&(from, to));
        Ok(())
    }

    fn rule(&self, from: usize, to: usize) -> Result<[String; 4], BedError> {
        let (from, to) = (self.node(from)?.ip, self.node(to)?.ip);
        Ok(["from".into(), format!("{from}/32"), "to".into(), format!("{to}/32")])
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of every veth pair, and so
        // the pair; a process left in it would keep it alive, unseen.
        for node in &self.nodes {
            delete_namespace(&node.namespace);
        }
        delete_namespace(&self.router);
        if let Some((file, path)) = self.lock.take() {
            let _ = std::fs::remove_file(&path);
            drop(file);
        }
    }
}

/// Deletes namespaces left by beds of processes that no longer run.
fn remove_orphans() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else { return };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else { continue };
        let Some(id) = bed_id(name) else { continue };
        if lock_is_free(&id) {
            delete_namespace(name);
        }
    }
}

/// The bed id in a namespace name: `hlb<pid>x<n>` of `hlb<pid>x<n>r` or
/// `hlb<pid>x<n>n<i>`.
fn bed_id(namespace: &str) -> Option<String> {
    let rest = namespace.strip_prefix(PREFIX)?;
    let pid_len = rest.chars().take_while(char::is_ascii_digit).count();
    let after = rest[pid_len..].strip_prefix('x')?;
    let n_len = after.chars().take_while(char::is_ascii_digit).count();
    (pid_len > 0 && n_len > 0).then(|| format!("{PREFIX}{}x{}", &rest[..pid_len], &after[..n_len]))
}

fn lock_path(id: &str) -> std::path::PathBuf {
    std::path::Path::new(LOCK_DIR).join(format!("{id}.lock"))
}

/// Creates and locks the bed's lock file.
fn take_lock(id: &str) -> Result<(std::fs::File, std::path::PathBuf), BedError> {
    let path = lock_path(id);
    let failed =
        |e: std::io::Error| BedError::Command { command: format!("lock {}", path.display()), stderr: e.to_string() };
    std::fs::create_dir_all(LOCK_DIR).map_err(failed)?;
    let file = std::fs::File::create(&path).map_err(failed)?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(|e| failed(e.into()))?;
    Ok((file, path))
}

/// Whether no live bed holds the lock of bed `id` (a missing lock file is
/// free: its bed is gone).
fn lock_is_free(id: &str) -> bool {
    let path = lock_path(id);
    let Ok(file) = std::fs::OpenOptions::new().write(true).open(&path) else { return true };
    let free = rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_ok();
    if free {
        let _ = std::fs::remove_file(&path);
    }
    free
}

/// Kills every process in `namespace`, then deletes it.
fn delete_namespace(namespace: &str) {
    if let Ok(out) = Command::new("ip").args(["netns", "pids", namespace]).output() {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = Command::new("kill").args(["-KILL", pid]).output();
        }
    }
    let _ = Command::new("ip").args(["netns", "del", namespace]).output();
}

fn ip(args: &[&str]) -> Result<(), BedError> {
    checked(Command::new("ip").args(args).output(), "ip", args)
}

fn run_in(namespace: &str, args: &[&str]) -> Result<(), BedError> {
    let mut all = vec!["netns", "exec", namespace];
    all.extend_from_slice(args);
    ip(&all)
}

fn ip_tc(namespace: &str, args: &[&str]) -> Result<(), BedError> {
    let mut all = vec!["netns", "exec", namespace, "tc"];
    all.extend_from_slice(args);
    ip(&all)
}

fn checked(out: std::io::Result<Output>, program: &str, args: &[&str]) -> Result<(), BedError> {
    let command = format!("{program} {}", args.join(" "));
    match out {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(BedError::Command { command, stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned() }),
        Err(e) => Err(BedError::Command { command, stderr: e.to_string() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::time::Duration;

    /// Whether node 0 can open a TCP connection to a listener on node 1
    /// and read its greeting within a second.
    fn reaches(bed: &Bed, listener: SocketAddr) -> bool {
        bed.run_in(0, move || {
            let Ok(mut stream) = TcpStream::connect_timeout(&listener, Duration::from_secs(1)) else { return false };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
            let mut greeting = [0u8; 2];
            stream.read_exact(&mut greeting).is_ok() && greeting == *b"ok"
        })
        .unwrap()
    }

    #[test]
    fn a_cut_drops_packets_silently_and_a_heal_lets_them_pass() {
        let Some(mut bed) = Bed::or_skip(3, "a_cut_drops_packets_silently_and_a_heal_lets_them_pass") else {
            return;
        };
        let ip = bed.node(1).unwrap().ip;
        let listener = bed.run_in(1, move || TcpListener::bind((ip, 0)).unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let _ = stream.write_all(b"ok");
            }
        });
        assert!(reaches(&bed, addr), "nodes reach each other through the router");
        bed.cut(0, 1).unwrap();
        assert!(!reaches(&bed, addr), "a cut drops the packets");
        bed.cut(0, 2).unwrap();
        bed.heal_all().unwrap();
        assert!(reaches(&bed, addr), "a heal lets them pass again");
        bed.silence(1).unwrap();
        assert!(!reaches(&bed, addr));
        bed.heal(0, 1).unwrap();
        assert!(reaches(&bed, addr));
        let names: Vec<String> = bed.nodes().iter().map(|n| n.namespace.clone()).collect();
        drop(bed);
        let left = Command::new("ip").args(["netns", "list"]).output().unwrap();
        let left = String::from_utf8_lossy(&left.stdout);
        assert!(names.iter().all(|n| !left.contains(n.as_str())), "every namespace is deleted: {left}");
    }

    #[test]
    fn namespace_names_give_their_bed_and_orphans_are_cleaned_up() {
        assert_eq!(bed_id("hlb123x4r").as_deref(), Some("hlb123x4"));
        assert_eq!(bed_id("hlb123x45n7").as_deref(), Some("hlb123x45"));
        assert_eq!(bed_id("hlb123p0"), None, "a probe");
        assert_eq!(bed_id("other"), None);
        let Some(bed) = Bed::or_skip(1, "namespace_names_give_their_bed_and_orphans_are_cleaned_up") else {
            return;
        };
        let id = bed_id(&bed.router).unwrap();
        assert!(!lock_is_free(&id), "a live bed's lock is held");
        // A bed whose process died without dropping it: the lock file's
        // descriptor closed with the process, the namespaces stayed.
        let orphan = bed.router.clone();
        let mut bed = bed;
        drop(bed.lock.take());
        std::mem::forget(bed);
        // A child another test thread is forking at this moment holds a copy
        // of the descriptor until its exec closes it: wait that out.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !lock_is_free(&id) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(lock_is_free(&id), "the lock died with its holder's file");
        remove_orphans();
        let left = Command::new("ip").args(["netns", "list"]).output().unwrap();
        assert!(!String::from_utf8_lossy(&left.stdout).contains(&orphan), "the orphan's namespaces are gone");
    }

    #[test]
    fn a_delay_is_added_or_refused_as_unsupported() {
        let Some(bed) = Bed::or_skip(1, "a_delay_is_added_or_refused_as_unsupported") else { return };
        match bed.delay(0, 20) {
            Ok(()) | Err(BedError::Unsupported(_)) => {}
            Err(e) => panic!("{e}"),
        }
        assert!(matches!(bed.delay(5, 20), Err(BedError::NoSuchNode(5))));
    }
}
