//! Writing the harness's section of docs/benchmarks.md, leaving every other section as it
//! is.

use std::path::Path;

use crate::error::BenchError;
use crate::report::{Report, wrap};

/// The comment that opens our section.
pub const MARKER: &str = "<!-- zap-bench -->";

/// `page` with the zap-bench section replaced by `section` (which must not contain the
/// marker): from the marker line up to the next section marker (`<!-- ` at the start of a
/// line) or the end. Appends the section when the page has none.
pub fn replace_section(page: &str, section: &str) -> String {
    let body = section.trim_end();
    let lines: Vec<&str> = page.lines().collect();
    let Some(start) = lines.iter().position(|l| l.trim() == MARKER) else {
        let mut out = page.trim_end().to_string();
        out.push_str("\n\n");
        out.push_str(MARKER);
        out.push('\n');
        out.push_str(body);
        out.push('\n');
        return out;
    };
    let end = lines[start + 1..]
        .iter()
        .position(|l| l.starts_with("<!-- "))
        .map_or(lines.len(), |i| start + 1 + i);
    let mut out = String::new();
    for l in &lines[..start] {
        out.push_str(l);
        out.push('\n');
    }
    out.push_str(MARKER);
    out.push('\n');
    out.push_str(body);
    out.push('\n');
    if end < lines.len() {
        out.push('\n');
        for l in &lines[end..] {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

/// The section for `report`: what was compared, how, the machine, the command, the
/// tables.
pub fn section(report: &Report) -> String {
    let mut s = String::new();
    s.push_str("## zap-bench: the stack against the floor, tarpc, tonic and hyper\n\n");
    let intro = "Written by the harness (`crates/zap-bench`); re-run it rather than editing \
        this section. Every contender runs in the same process layout and runtime \
        configuration, carries the same payloads (application bytes; each stack adds its own \
        envelope) and is measured in alternating rounds, so load on the shared machine lands \
        on all of them alike. Only the ratios are meant to be read; absolute times are this \
        machine's at that moment.";
    s.push_str(&wrap(intro, 90));
    s.push_str(&format!(
        "\n\nReproduce: `{}` (the same as `{}`).\n\n",
        xtask_form(&report.command),
        report.command
    ));
    let contenders = "Contenders: the floor is a raw framed TCP echo (`u32 len ∥ u32 id ∥ \
        payload`): the server echoes every whole frame it reads straight from its read \
        buffer, all queued echoes in one vectored write, reading on while it writes; the \
        client keeps N frames outstanding from one task and answers each batch of replies \
        with as many requests in one vectored write. zap-rpc is measured through \
        `Client::call` (the headline) and straight on one `Connection` over TCP, and \
        through `Client::call` over mutual TLS 1.3 and over QUIC (certificates from a CA \
        made at start-up), with default options and a prebuilt `Procedure`. tarpc uses its \
        serde transport with bincode and spawns a task per request as its examples do; \
        tonic is unary gRPC with prost messages, HTTP/2 windows raised for 64 KiB messages \
        and no stream limit below 256, served without a router. Every TCP socket has \
        `TCP_NODELAY`. zap-http and hyper HTTP/1.1 serve the same axum `Router` (`POST \
        /echo`), N requests in flight on N pooled connections. The relay paths use two \
        relay-cluster pods linked by the fabric on 127.0.0.2 and 127.0.0.3 and \
        relay-cluster's own client; an echo peer on each pod sends every message back, so \
        a same-pod call crosses one relay twice and a cross-pod call also crosses the link \
        and the second relay.";
    s.push_str(&wrap(contenders, 90));
    s.push_str("\n\n");
    let missed = "A goal marked MISSED is recorded as measured. Closing it is work in the \
        crate under test (for zap-rpc: write coalescing with one flush per read batch, \
        pooled buffers, fewer cross-thread wake-ups), never a change to the harness or its \
        baselines.";
    s.push_str(&wrap(missed, 90));
    s.push_str("\n\n");
    s.push_str(&report.render(true));
    s
}

/// The `cargo xtask bench` spelling of a harness command line (xtask passes its
/// arguments through).
fn xtask_form(command: &str) -> String {
    let args = command
        .strip_prefix("cargo run --release -p zap-bench")
        .map(|rest| rest.trim_start().trim_start_matches("--").trim())
        .unwrap_or("");
    if args.is_empty() {
        "cargo xtask bench".into()
    } else {
        format!("cargo xtask bench {args}")
    }
}

/// Rewrites the zap-bench section of the page at `path`.
pub fn write(path: &Path, report: &Report) -> Result<(), BenchError> {
    let err = |detail: String| BenchError::Docs {
        path: path.display().to_string(),
        detail,
    };
    let page = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let new = replace_section(&page, &section(report));
    std::fs::write(path, new).map_err(|e| err(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "# Benchmarks\n\nintro\n\n<!-- zap-wire -->\n## wire\nnumbers\n\n\
                        <!-- zap-bench -->\nold harness text\n\n<!-- zap-http -->\n## http\nmore\n";

    #[test]
    fn replaces_only_our_section() {
        let out = replace_section(PAGE, "new harness text\n");
        assert_eq!(
            out,
            "# Benchmarks\n\nintro\n\n<!-- zap-wire -->\n## wire\nnumbers\n\n\
             <!-- zap-bench -->\nnew harness text\n\n<!-- zap-http -->\n## http\nmore\n"
        );
        // Idempotent: writing the same section again changes nothing.
        assert_eq!(replace_section(&out, "new harness text"), out);
    }

    #[test]
    fn xtask_spelling_keeps_the_arguments() {
        assert_eq!(
            xtask_form("cargo run --release -p zap-bench"),
            "cargo xtask bench"
        );
        assert_eq!(
            xtask_form("cargo run --release -p zap-bench -- --quick --write-docs"),
            "cargo xtask bench --quick --write-docs"
        );
    }

    #[test]
    fn section_at_the_end_and_missing_section() {
        let page = "# B\n\n<!-- zap-bench -->\nold\nlines\n";
        assert_eq!(
            replace_section(page, "new"),
            "# B\n\n<!-- zap-bench -->\nnew\n"
        );
        let page = "# B\n\n<!-- zap-http -->\nhttp\n";
        assert_eq!(
            replace_section(page, "new"),
            "# B\n\n<!-- zap-http -->\nhttp\n\n<!-- zap-bench -->\nnew\n"
        );
    }
}
