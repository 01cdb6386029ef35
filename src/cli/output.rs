//! Output: plain text for people, one JSON document for scripts.

use serde::Serialize;
use std::io::{self, Write};

/// Standard output was closed by its reader (`hotline inbox | head -1`):
/// the command stops quietly and succeeds, as Unix tools do.
#[derive(Debug)]
pub(crate) struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("standard output is closed")
    }
}

impl std::error::Error for StdoutClosed {}

/// The command failed and has already said so on standard output (one
/// JSON document with `--json`): exit non-zero and print nothing more.
#[derive(Debug)]
pub(crate) struct AlreadyReported;

impl std::fmt::Display for AlreadyReported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the failure was reported on standard output")
    }
}

impl std::error::Error for AlreadyReported {}

/// Writes `text` and a newline to standard output, flushed. A closed pipe
/// is [`StdoutClosed`], never a panic.
pub(crate) fn say(text: &str) -> anyhow::Result<()> {
    let mut stdout = io::stdout().lock();
    let written = stdout
        .write_all(text.as_bytes())
        .and_then(|()| if text.ends_with('\n') { Ok(()) } else { stdout.write_all(b"\n") })
        .and_then(|()| stdout.flush());
    match written {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        other => Ok(other?),
    }
}

/// Where and how a command prints its result.
pub(crate) struct Out {
    /// Print JSON instead of text.
    pub json: bool,
}

impl Out {
    /// Prints `value` as JSON, or the text `human` builds (its TLP banners
    /// in colour on a terminal, see [`paint_banners`]).
    pub(crate) fn emit<T: Serialize>(&self, value: &T, human: impl FnOnce() -> String) -> anyhow::Result<()> {
        if self.json {
            say(&serde_json::to_string_pretty(value)?)
        } else if colour_wanted() {
            say(&paint_banners(&human()))
        } else {
            say(&human())
        }
    }

    /// Prints a list: as JSON, an object holding the list under `name`
    /// (`{"messages": [...]}`), or the bare array of earlier releases when
    /// `HOTLINE_JSON_LISTS=array` (kept for one release; see
    /// `docs/api.md`); else the text `human` builds.
    pub(crate) fn emit_list<T: Serialize>(
        &self,
        name: &str,
        items: &[T],
        human: impl FnOnce() -> String,
    ) -> anyhow::Result<()> {
        self.emit_list_with(name, items, serde_json::Map::new(), human)
    }

    /// [`Out::emit_list`], with more members in the object (`extra`).
    pub(crate) fn emit_list_with<T: Serialize>(
        &self,
        name: &str,
        items: &[T],
        mut extra: serde_json::Map<String, serde_json::Value>,
        human: impl FnOnce() -> String,
    ) -> anyhow::Result<()> {
        if self.json && std::env::var("HOTLINE_JSON_LISTS").is_ok_and(|v| v == "array") {
            return say(&serde_json::to_string_pretty(items)?);
        }
        extra.insert(name.to_string(), serde_json::to_value(items)?);
        self.emit(&extra, human)
    }

    /// Prints a benchmark's report: one line of JSON with `--json`, else
    /// indented JSON.
    pub(crate) fn report<T: Serialize>(&self, value: &T) -> anyhow::Result<()> {
        if self.json { say(&serde_json::to_string(value)?) } else { say(&serde_json::to_string_pretty(value)?) }
    }
}

/// Whether text may be coloured: standard output is a terminal and
/// `NO_COLOR` is not set (<https://no-color.org>).
fn colour_wanted() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && io::stdout().is_terminal()
}

/// Colours the TLP banners that open and close a note or a thread, as TLP
/// 2.0 shows its labels: the label's colour on black. Only the first and
/// the last line are looked at: those are the banners this program wrote,
/// where a line of a message's body that looks like one is not.
pub(crate) fn paint_banners(text: &str) -> String {
    let paint = |line: &str| -> String {
        let colour = match line {
            l if !l.starts_with("==== TLP:") => return line.to_string(),
            l if l.contains("TLP:RED") => "1;38;2;255;43;43",
            l if l.contains("TLP:AMBER") => "1;38;2;255;192;0",
            l if l.contains("TLP:GREEN") => "1;38;2;51;255;0",
            _ => "1;38;2;255;255;255",
        };
        format!("\x1b[{colour};48;2;0;0;0m{line}\x1b[0m")
    };
    let lines: Vec<&str> = text.lines().collect();
    let last = lines.len().saturating_sub(1);
    let mut out: String = lines
        .iter()
        .enumerate()
        .map(|(i, l)| if i == 0 || i == last { paint(l) } else { (*l).to_string() })
        .collect::<Vec<_>>()
        .join("\n");
    if text.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// Renders rows as a left-aligned table with a header line.
/// The width tables must fit: `$COLUMNS` when set, else the terminal's
/// when standard output is one, else none (pipes and files get whole
/// lines).
pub(super) fn screen_width() -> Option<usize> {
    if let Some(n) = std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse::<usize>().ok()).filter(|n| *n >= 20) {
        return Some(n);
    }
    let stdout = std::io::stdout();
    rustix::termios::tcgetwinsize(&stdout).ok().map(|w| usize::from(w.ws_col)).filter(|n| *n >= 20)
}

/// Like [`table`], fitted to `width` columns when given: column `flexible`
/// (a subject, say) gives up characters first, down to 8, then every
/// other column is cut from the right as a last resort.
pub(super) fn table_fitted(headers: &[&str], rows: &[Vec<String>], flexible: usize, width: Option<usize>) -> String {
    let Some(width) = width else { return table(headers, rows) };
    let natural: Vec<usize> = (0..headers.len())
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
                .max(headers[i].chars().count())
        })
        .collect();
    let total = natural.iter().sum::<usize>() + 2 * natural.len().saturating_sub(1);
    let mut cap = natural.clone();
    if total > width {
        let excess = total - width;
        let give = natural[flexible].saturating_sub(8).min(excess);
        cap[flexible] = natural[flexible] - give;
    }
    let fit = |i: usize, text: &str| -> String {
        let max = cap[i];
        if text.chars().count() <= max {
            text.to_string()
        } else if max <= 1 {
            text.chars().take(max).collect()
        } else {
            let mut t: String = text.chars().take(max - 1).collect();
            t.push('…');
            t
        }
    };
    let rows: Vec<Vec<String>> = rows.iter().map(|r| r.iter().enumerate().map(|(i, c)| fit(i, c)).collect()).collect();
    let headers: Vec<String> = headers.iter().enumerate().map(|(i, h)| fit(i, h)).collect();
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    // Whatever still does not fit is cut at the edge.
    table(&headers, &rows)
        .lines()
        .map(|l| {
            if l.chars().count() > width {
                l.chars().take(width - 1).collect::<String>() + "…"
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

pub(super) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        s.trim_end().to_string()
    };
    let mut out = line(headers.to_vec());
    out.push('\n');
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_opening_and_closing_banners_are_painted() {
        let text = "==== TLP:RED ====\n\nSubject: x\n==== TLP:CLEAR ====\nbody\n==== TLP:RED ====\n";
        let painted = super::paint_banners(text);
        let lines: Vec<&str> = painted.lines().collect();
        assert_eq!(lines[0], "\x1b[1;38;2;255;43;43;48;2;0;0;0m==== TLP:RED ====\x1b[0m");
        assert_eq!(lines[3], "==== TLP:CLEAR ====", "a banner-like line inside is left alone");
        assert_eq!(lines[5], lines[0]);
        assert!(painted.ends_with('\n'));
        assert_eq!(super::paint_banners("no banner\n"), "no banner\n");
    }

    #[test]
    fn table_aligns_columns() {
        let t = super::table(&["A", "LONG"], &[vec!["xyz".into(), "1".into()]]);
        assert_eq!(t, "A    LONG\nxyz  1\n");
    }
}
