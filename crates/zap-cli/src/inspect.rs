//! `zap inspect`: decode hex ZAP messages and node frames, and the demo's wire step.

use std::io::BufRead;
use std::process::ExitCode;

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use tokio_util::codec::{Decoder, Framed};
use zap_wire::codec::{NodeCodec, NodeFrame};
use zap_wire::node::{self, FrameKind};
use zap_wire::{Builder, Message};

use crate::demo::StepResult;
use crate::output::{CliError, err, print_table};

/// Options of `zap inspect`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Hex of ZAP messages (or node frames with --frame). With none, each line of
    /// standard input is one input.
    hex: Vec<String>,
    /// Inputs are node frames: a 4-byte little-endian length, then the payload.
    #[arg(long)]
    frame: bool,
    /// Print one JSON object per input instead of a table.
    #[arg(long)]
    json: bool,
}

/// What `inspect` reports for one input; the JSON keys are part of the interface.
#[derive(Debug, Default)]
struct Report {
    ok: bool,
    error: Option<String>,
    version: Option<u16>,
    flags: Option<u16>,
    msg_type: Option<u8>,
    root: Option<u32>,
    size: Option<u32>,
    kind: Option<&'static str>,
    request_id: Option<u32>,
}

impl Report {
    /// The JSON object: the message keys always, the frame keys in frame mode.
    fn to_json(&self, frame: bool) -> serde_json::Value {
        let mut v = serde_json::json!({
            "ok": self.ok,
            "error": self.error,
            "version": self.version,
            "flags": self.flags,
            "msg_type": self.msg_type,
            "root": self.root,
            "size": self.size,
        });
        if frame {
            v["kind"] = serde_json::json!(self.kind);
            v["request_id"] = serde_json::json!(self.request_id);
        }
        v
    }

    fn failed(mut self, e: impl std::fmt::Display) -> Self {
        self.ok = false;
        self.error = Some(e.to_string());
        self
    }

    fn with_message(mut self, bytes: &[u8]) -> Self {
        match Message::parse(bytes) {
            Ok(m) => {
                let h = m.header();
                self.ok = true;
                self.version = Some(h.version.as_u16());
                self.flags = Some(h.flags);
                self.msg_type = Some(h.msg_type());
                self.root = Some(h.root);
                self.size = Some(h.size);
                if m.size() < bytes.len() && self.kind.is_none() {
                    // Go ignores bytes past the size; say so rather than hide them.
                    self.error = Some(format!(
                        "{} bytes after the message's size are ignored",
                        bytes.len() - m.size()
                    ));
                }
                self
            }
            Err(e) => self.failed(e),
        }
    }
}

fn decode_hex(input: &str) -> Result<Vec<u8>, String> {
    let cleaned: String = input
        .trim()
        .trim_start_matches("0x")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    hex::decode(&cleaned).map_err(|e| format!("not hex: {e}"))
}

fn inspect(input: &str, as_frame: bool) -> Report {
    let bytes = match decode_hex(input) {
        Ok(b) => b,
        Err(e) => return Report::default().failed(e),
    };
    if !as_frame {
        return Report::default().with_message(&bytes);
    }
    let mut buf = BytesMut::from(&bytes[..]);
    let frame = match NodeCodec::new().decode(&mut buf) {
        Ok(Some(f)) => f,
        Ok(None) => {
            return Report::default().failed(format!(
                "incomplete frame: {} bytes where the length prefix needs more",
                bytes.len()
            ));
        }
        Err(e) => return Report::default().failed(e),
    };
    let mut report = Report {
        kind: Some(frame.kind.as_str()),
        request_id: frame.kind.call_flag().map(|_| frame.request_id),
        ..Report::default()
    };
    if frame.kind == FrameKind::Unrecognized {
        return report.failed("the payload is neither a message nor a call prefix and a message");
    }
    report = report.with_message(&frame.message);
    if report.ok && !buf.is_empty() {
        report = report.failed(format!("{} bytes follow the frame", buf.len()));
    }
    report
}

pub(crate) fn run(args: Args) -> Result<ExitCode, CliError> {
    let from_stdin = args.hex.is_empty();
    let inputs: Vec<String> = if from_stdin {
        let mut lines = Vec::new();
        for line in std::io::stdin().lock().lines() {
            let line = line.map_err(|e| err(format!("reading standard input: {e}")))?;
            if !line.trim().is_empty() {
                lines.push(line);
            }
        }
        lines
    } else {
        args.hex
    };
    let reports: Vec<Report> = inputs.iter().map(|i| inspect(i, args.frame)).collect();

    if args.json {
        for r in &reports {
            println!("{}", r.to_json(args.frame));
        }
    } else {
        let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        let rows: Vec<Vec<String>> = reports
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut row = vec![
                    (i + 1).to_string(),
                    if r.ok { "valid" } else { "INVALID" }.into(),
                    opt(r.version.map(|v| v.to_string())),
                    opt(r.flags.map(|f| format!("{f:#06x}"))),
                    opt(r.msg_type.map(|t| format!("{t} ({t:#04x})"))),
                    opt(r.root.map(|v| v.to_string())),
                    opt(r.size.map(|v| v.to_string())),
                ];
                if args.frame {
                    row.push(opt(r.kind.map(str::to_string)));
                    row.push(opt(r.request_id.map(|v| v.to_string())));
                }
                row.push(r.error.clone().unwrap_or_default());
                row
            })
            .collect();
        let mut header = vec!["#", "result", "version", "flags", "type", "root", "size"];
        if args.frame {
            header.extend(["kind", "request id"]);
        }
        header.push("note");
        print_table(&header, &rows);
    }
    // Standard input is a stream of inputs: report them all and succeed. Arguments
    // are the caller's own claims: any invalid one fails the command.
    let all_ok = reports.iter().all(|r| r.ok);
    Ok(if from_stdin || all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The demo's wire step: build a message, send it as a call frame over a real
/// loopback TCP connection to an echo task, read the echo back and check every field.
pub(crate) async fn demo_step() -> StepResult {
    let mut b = Builder::new();
    let mut list = b.list();
    for v in [100u32, 200, 300] {
        list.push_u32(v);
    }
    let list = list.finish();
    let mut root = b.object(32);
    root.set_u32(0, 42);
    root.set_text(8, "hello");
    root.set_bytes(16, &[0xde, 0xad, 0xbe, 0xef]);
    root.set_list(24, list);
    root.finish_root();
    let message = b.to_vec(0x4200).map_err(err)?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(err)?;
    let addr = listener.local_addr().map_err(err)?;
    let echo = tokio::spawn(async move {
        let (sock, _) = listener.accept().await?;
        let mut framed = Framed::new(sock, NodeCodec::new());
        while let Some(frame) = framed.next().await {
            let frame = frame.map_err(std::io::Error::other)?;
            framed
                .send(NodeFrame::response(frame.request_id, frame.message))
                .await
                .map_err(std::io::Error::other)?;
        }
        Ok::<_, std::io::Error>(())
    });

    let sock = tokio::net::TcpStream::connect(addr).await.map_err(err)?;
    let mut framed = Framed::new(sock, NodeCodec::new());
    framed
        .send(NodeFrame::request(1, message.clone()))
        .await
        .map_err(err)?;
    let reply = framed
        .next()
        .await
        .ok_or_else(|| CliError::new("the echo closed without answering"))?
        .map_err(err)?;
    drop(framed);
    echo.await.map_err(err)?.map_err(err)?;

    if reply.kind != FrameKind::Response || reply.request_id != 1 {
        return Err(CliError::new(format!(
            "expected response #1, got {} #{}",
            reply.kind.as_str(),
            reply.request_id
        )));
    }
    let msg = Message::parse_exact(&reply.message).map_err(err)?;
    let r = msg
        .root()
        .ok_or_else(|| CliError::new("the echoed message lost its root"))?;
    let list: Vec<u32> = r
        .list(24)
        .map_err(err)?
        .map(|l| l.iter::<u32>().map(Iterator::collect))
        .transpose()
        .map_err(err)?
        .unwrap_or_default();
    let checks = (
        r.u32(0).map_err(err)?,
        r.text(8).map_err(err)?,
        r.bytes(16).map_err(err)?,
    );
    if checks != (42, Some("hello"), Some(&[0xde, 0xad, 0xbe, 0xef][..])) || list != [100, 200, 300]
    {
        return Err(CliError::new("the echoed message reads back differently"));
    }
    let frame_len = node::LENGTH_PREFIX + node::CALL_PREFIX + message.len();
    Ok(format!(
        "{}-byte message (type {:#04x}) as a {frame_len}-byte call frame over TCP to {addr} and back, fields intact",
        message.len(),
        msg.msg_type(),
    ))
}
