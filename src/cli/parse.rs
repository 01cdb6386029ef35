//! Every parser of command-line values, in one place: addresses, ids and
//! their prefixes, durations and times, severities, targets, channels.
//! Each returns a clear error naming the option and what it expects.

use super::note;
use anyhow::{Result, anyhow, bail};
use hotline_core::message::MAX_SEVERITY;
use hotline_core::{Address, Alternate, Channel, ComcheckTask, Role, StateCode, Timestamp};

/// The longest deadline the daemon accepts (30 days).
pub(super) const MAX_DEADLINE_SECS: u64 = 30 * 86_400;
/// The task names, as the API spells them.
pub(super) const TASKS: [(&str, ComcheckTask); 4] = [
    ("none", ComcheckTask::None),
    ("nonce", ComcheckTask::Nonce),
    ("confirm-record", ComcheckTask::ConfirmRecord),
    ("counterpart", ComcheckTask::Counterpart),
];
/// The longest `--wait` the daemon allows.
pub(super) const MAX_WAIT_SECS: u64 = 3600;
/// The shortest id prefix accepted.
pub(super) const MIN_PREFIX: usize = 6;

/// `DEU` or `DEU/policy`; the role defaults to technical.
pub(super) fn parse_address(text: &str) -> Result<Address> {
    let (state, role) = match text.trim().split_once('/') {
        Some((s, r)) => (s, Some(r)),
        None => (text.trim(), None),
    };
    let state: StateCode = state.parse().map_err(|e| anyhow!("--to: {e}"))?;
    let role = match role {
        Some(r) => r.parse().map_err(|e| anyhow!("--to: {e}"))?,
        None => Role::technical(),
    };
    Ok(Address { state, role })
}

pub(super) fn parse_severity(text: &str) -> Result<u8> {
    match text.trim().parse::<u8>() {
        Ok(s) if s <= MAX_SEVERITY => Ok(s),
        _ => bail!("--severity must be a whole number from 0 (none) to {MAX_SEVERITY} (critical), not '{text}'"),
    }
}

/// `--timeout`: a duration (`30s`, `2m`) or plain seconds, at most an hour.
pub(super) fn parse_timeout(text: &str) -> Result<u64> {
    let t = text.trim();
    let secs = if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit()) { t.parse().ok() } else { parse_duration(t) };
    match secs {
        Some(s) if s <= MAX_WAIT_SECS => Ok(s),
        Some(_) => bail!("--timeout is at most 1h"),
        None => bail!("--timeout '{text}' is not a duration (for example 30s, 2m, 1h)"),
    }
}

/// `--respond-by`: a duration from `now` (`30m`, `2h`, `3d`), a UTC time
/// (`2026-11-22T18:00Z`) or Unix seconds. It must be in the future.
pub(super) fn parse_when(text: &str, now: Timestamp) -> Result<Timestamp> {
    parse_when_in(text, now, local_zone())
}

/// The PoC's time zone for clock times: `HOTLINE_TZ`, else `TZ` (IANA
/// names such as Europe/Paris), else UTC.
fn local_zone() -> chrono_tz::Tz {
    ["HOTLINE_TZ", "TZ"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find_map(|z| z.trim().trim_start_matches(':').parse::<chrono_tz::Tz>().ok())
        .unwrap_or(chrono_tz::UTC)
}

/// `HH:MM` today in `zone`, as a timestamp.
fn clock_today(text: &str, now: Timestamp, zone: chrono_tz::Tz) -> Option<Timestamp> {
    use chrono::TimeZone;
    let (h, m) = text.split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    let today = chrono::DateTime::from_timestamp(i64::try_from(now.0).ok()?, 0)?.with_timezone(&zone).date_naive();
    let local = today.and_hms_opt(h, m, 0)?;
    let at = zone.from_local_datetime(&local).earliest()?;
    u64::try_from(at.timestamp()).ok().map(Timestamp)
}

/// [`parse_when`] with the time zone of clock times given.
pub(super) fn parse_when_in(text: &str, now: Timestamp, zone: chrono_tz::Tz) -> Result<Timestamp> {
    let t = text.trim();
    if t.starts_with('-') {
        bail!("--respond-by {text} is negative: give a time in the future (30m, 2h, 16:00)");
    }
    let at = if let Some(at) = clock_today(t, now, zone) {
        if at <= now {
            bail!("--respond-by {text} ({zone}) has already passed today; give a later time or a date");
        }
        at
    } else if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit()) {
        Timestamp(t.parse().map_err(|_| anyhow!("--respond-by '{text}' is too large"))?)
    } else if let Some(at) = Timestamp::parse_utc(t) {
        at
    } else if let Some(secs) = parse_duration(t) {
        if secs == 0 {
            bail!("--respond-by {text} is now; give a time in the future");
        }
        now.plus(secs)
    } else {
        bail!(
            "--respond-by '{text}' is not a duration (30m, 2h, 3d), a clock time today (16:00, in $HOTLINE_TZ or \
             $TZ, else UTC), a UTC time (2026-11-22T18:00Z) or Unix seconds"
        );
    };
    if at <= now {
        bail!("--respond-by {text} ({}) is in the past", note::utc(at));
    }
    Ok(at)
}

/// `90s`, `30m`, `2h`, `3d`, `1w`, or a sum such as `1h30m`, in seconds.
pub(super) fn parse_duration(text: &str) -> Option<u64> {
    let mut total: u64 = 0;
    let mut number = String::new();
    let mut units = 0;
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return None,
        };
        let n: u64 = number.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        number.clear();
        units += 1;
    }
    (number.is_empty() && units > 0).then_some(total)
}

/// An id as typed: all 32 digits, or a prefix to look up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum IdArg {
    Full([u8; 16]),
    Prefix(String),
}

pub(super) fn id_arg(what: &str, text: &str) -> Result<IdArg> {
    let t = text.trim().to_ascii_lowercase();
    let hex = t.chars().all(|c| c.is_ascii_hexdigit());
    if hex && t.len() == 32 {
        let mut id = [0u8; 16];
        hex::decode_to_slice(&t, &mut id).map_err(|e| anyhow!("{what} '{text}': {e}"))?;
        return Ok(IdArg::Full(id));
    }
    if hex && (MIN_PREFIX..32).contains(&t.len()) {
        return Ok(IdArg::Prefix(t));
    }
    bail!("'{text}' is not a {what}: give its 32 hexadecimal digits, or a unique prefix of at least {MIN_PREFIX}")
}

/// `--to`: `all` (`None`: every other admitted state), or states separated
/// by commas, over one or more flags; duplicates are dropped.
pub(super) fn parse_targets(values: &[String]) -> Result<Option<Vec<StateCode>>> {
    let items: Vec<&str> = values.iter().flat_map(|v| v.split(',')).map(str::trim).collect();
    if items.iter().any(|i| i.is_empty()) {
        bail!("--to: an empty entry; give states separated by commas, for example FRA,DEU, or all");
    }
    if items.iter().any(|i| i.eq_ignore_ascii_case("all")) {
        if items.len() > 1 {
            bail!("--to all already means every other admitted state: give all, or a list of states, not both");
        }
        return Ok(None);
    }
    let mut states = Vec::new();
    for item in items {
        let state: StateCode = item.parse().map_err(|e| anyhow!("--to: {e}"))?;
        if !states.contains(&state) {
            states.push(state);
        }
    }
    Ok(Some(states))
}

/// `--deadline`: `30s`, `10m`, `2h`, `3d` (or a sum such as `1h30m`), 1 s to 30 days.
pub(super) fn parse_deadline(text: &str) -> Result<u64> {
    match parse_duration(text.trim()) {
        Some(0) => bail!("--deadline must be at least 1s"),
        Some(s) if s <= MAX_DEADLINE_SECS => Ok(s),
        Some(_) => bail!("--deadline is at most 30d: a check tests reachability, it is not a case"),
        None => bail!("--deadline '{text}' is not a duration (for example 30s, 10m, 2h, 3d)"),
    }
}

pub(super) fn parse_task(text: &str) -> Result<ComcheckTask> {
    let t = text.trim().to_ascii_lowercase();
    match TASKS.iter().find(|(name, _)| *name == t) {
        Some((_, task)) => Ok(*task),
        None => {
            let names: Vec<&str> = TASKS.iter().map(|(n, _)| *n).collect();
            bail!("--task: '{text}' is not a comcheck task; use one of: {}", names.join(", "))
        }
    }
}

/// Parses `STATE` or `STATE/ROLE`.
pub(super) fn parse_target(target: &str) -> Result<(StateCode, Option<Role>)> {
    match target.split_once('/') {
        Some((s, r)) => Ok((s.parse()?, Some(r.parse()?))),
        None => Ok((target.parse()?, None)),
    }
}

pub(super) fn parse_channel(s: &str) -> Result<Channel> {
    match s.split_once('=') {
        Some((kind, address)) if !kind.is_empty() && !address.is_empty() => {
            Ok(Channel { kind: kind.trim().to_string(), address: address.trim().to_string() })
        }
        _ => bail!("--channel '{s}' must be KIND=ADDRESS, for example signal=+33600000000"),
    }
}

pub(super) fn parse_alternate(s: &str) -> Result<Alternate> {
    let mut alt = Alternate { name: String::new(), email: None, phone: None };
    for part in s.split(',') {
        match part.split_once('=') {
            Some(("name", v)) => alt.name = v.trim().to_string(),
            Some(("email", v)) => alt.email = Some(v.trim().to_string()),
            Some(("phone", v)) => alt.phone = Some(v.trim().to_string()),
            _ => bail!("--alternate '{s}' must be name=…[,email=…][,phone=…]"),
        }
    }
    if alt.name.is_empty() {
        bail!("--alternate '{s}' needs name=…");
    }
    Ok(alt)
}
