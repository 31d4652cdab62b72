//! The header block: `u32 count`, then `count` times `u32 len ∥ name ∥ u32 len ∥ value`,
//! all little-endian. Used by the headers and trailer slots and by end frames.

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use super::error::{WireError, clip};
use super::frame::{DecodeLimits, HeaderCase};

/// True for the fields the frame itself carries, which are never sent as pairs:
/// `Content-Length` (the body slot has the length) and `Trailer` (the trailer slot names
/// the trailers).
pub fn is_frame_owned(name: &HeaderName) -> bool {
    frame_owned(name.as_str())
}

/// True for the hop-by-hop fields of RFC 9110 §7.6.1, which describe one HTTP/1
/// connection and are never forwarded: `Connection`, `Keep-Alive`, `Proxy-Connection`,
/// `TE`, `Transfer-Encoding`, `Upgrade`. Fields that `Connection` names are hop-by-hop
/// too; the encoder drops them as well.
pub fn is_hop_by_hop(name: &HeaderName) -> bool {
    hop_by_hop(name.as_str())
}

// The two lists as string matches (header names are lower case), which compile to a
// comparison on the length first: the encoder asks for every field of every message.
fn frame_owned(name: &str) -> bool {
    matches!(name, "content-length" | "trailer")
}

fn hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "connection" | "te" | "transfer-encoding" | "upgrade" | "keep-alive" | "proxy-connection"
    )
}

/// [`is_frame_owned`] or [`is_hop_by_hop`].
fn never_sent(name: &str) -> bool {
    frame_owned(name) || hop_by_hop(name)
}

/// What the encoder will write for one header map.
pub(crate) struct Plan<'a> {
    map: &'a HeaderMap,
    /// Fields named by `Connection`; empty (and unallocated) in the usual case.
    listed: Vec<HeaderName>,
    /// A `Host` value written after the map's fields (the map has none): the client's
    /// `Host` goes on the wire without being inserted into the caller's map.
    host: Option<&'a [u8]>,
    count: u32,
    len: usize,
}

impl<'a> Plan<'a> {
    /// Measures the block for `map`; `None` when nothing would be written (a null slot).
    pub(crate) fn new(map: &'a HeaderMap) -> Result<Self, WireError> {
        Self::with_host(map, None)
    }

    /// [`Plan::new`], plus a `Host` field after the map's own when `host` is given. The
    /// caller makes sure the map has no `Host` and the value is a valid field value.
    pub(crate) fn with_host(map: &'a HeaderMap, host: Option<&'a [u8]>) -> Result<Self, WireError> {
        let mut listed = Vec::new();
        for v in map.get_all(header::CONNECTION) {
            for token in v.as_bytes().split(|b| *b == b',') {
                if let Ok(name) = HeaderName::from_bytes(token.trim_ascii()) {
                    listed.push(name);
                }
            }
        }
        let mut plan = Self {
            map,
            listed,
            host,
            count: 0,
            len: 4,
        };
        let mut count: u64 = 0;
        let mut len: u64 = 4;
        for (name, value) in map {
            if plan.skip(name) {
                continue;
            }
            count += 1;
            len += 8 + name.as_str().len() as u64 + value.len() as u64;
        }
        if let Some(host) = host {
            count += 1;
            len += 8 + HOST_LOWER.len() as u64 + host.len() as u64;
        }
        let too_big = |len| WireError::FrameTooLarge {
            len,
            max: u32::MAX as usize,
        };
        plan.count = u32::try_from(count).map_err(|_| too_big(count))?;
        plan.len = usize::try_from(len).map_err(|_| too_big(len))?;
        if count == 0 {
            plan.len = 0;
        }
        Ok(plan)
    }

    fn skip(&self, name: &HeaderName) -> bool {
        never_sent(name.as_str()) || (!self.listed.is_empty() && self.listed.contains(name))
    }

    /// Bytes of the block (0 when the slot will be null).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Appends the block to `out` (nothing when empty).
    pub(crate) fn write(&self, case: HeaderCase, out: &mut BytesMut) {
        if self.count == 0 {
            return;
        }
        out.put_u32_le(self.count);
        for (name, value) in self.map {
            if self.skip(name) {
                continue;
            }
            let name = name.as_str().as_bytes();
            out.put_u32_le(name.len() as u32);
            match case {
                HeaderCase::Lower => out.put_slice(name),
                HeaderCase::Canonical => put_canonical(name, out),
            }
            out.put_u32_le(value.len() as u32);
            out.put_slice(value.as_bytes());
        }
        if let Some(host) = self.host {
            out.put_u32_le(HOST_LOWER.len() as u32);
            out.put_slice(match case {
                HeaderCase::Lower => HOST_LOWER,
                HeaderCase::Canonical => b"Host",
            });
            out.put_u32_le(host.len() as u32);
            out.put_slice(host);
        }
    }
}

/// The `Host` field name as `http` spells it.
const HOST_LOWER: &[u8] = b"host";

/// Writes a lower-case token in Title-Case: the first letter and every letter after `-`.
fn put_canonical(name: &[u8], out: &mut BytesMut) {
    // One copy, then the case fixed in place: byte-by-byte `put_u8` costs a capacity
    // check per byte.
    let start = out.len();
    out.extend_from_slice(name);
    let mut upper = true;
    for b in &mut out[start..] {
        let was = *b;
        if upper {
            b.make_ascii_uppercase();
        }
        upper = was == b'-';
    }
}

/// What the decoder has spent of its limits across the blocks of one message.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    fields: usize,
    bytes: usize,
}

/// How to treat the fields of one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Block {
    /// Request headers: the last `Host` wins, as in Go.
    RequestHeaders,
    /// Response headers, trailers.
    Other,
}

/// Decodes a header block into `map`.
///
/// An empty block means no fields. Bytes after the declared pairs are ignored, as in Go.
/// `Content-Length` and `Transfer-Encoding` pairs are dropped: the body slot, not a
/// field, says how long the body is, and a field claiming otherwise would only mislead.
pub(crate) fn decode_block(
    block: Bytes,
    kind: Block,
    limits: &DecodeLimits,
    budget: &mut Budget,
    map: &mut HeaderMap,
) -> Result<(), WireError> {
    if block.is_empty() {
        return Ok(());
    }
    budget.bytes = budget.bytes.saturating_add(block.len());
    if budget.bytes > limits.max_header_bytes {
        return Err(WireError::HeadersTooLarge {
            size: budget.bytes,
            max: limits.max_header_bytes,
        });
    }
    let mut r = Reader {
        buf: &block,
        pos: 0,
    };
    let count = r
        .u32()
        .ok_or(WireError::TruncatedHeaders("no field count"))? as usize;
    let total = budget.fields as u64 + count as u64;
    if total > limits.max_headers as u64 {
        return Err(WireError::TooManyHeaders {
            count: total,
            max: limits.max_headers,
        });
    }
    // Each field takes at least its two 4-byte lengths; refuse a count the block cannot
    // hold before reserving room for it.
    if count > (block.len() - 4) / 8 {
        return Err(WireError::TruncatedHeaders(
            "field count exceeds what the block holds",
        ));
    }
    budget.fields = total as usize;
    map.reserve(count);
    for _ in 0..count {
        let name = r
            .field()
            .ok_or(WireError::TruncatedHeaders("a name runs past the block"))?;
        let value = r
            .field()
            .ok_or(WireError::TruncatedHeaders("a value runs past the block"))?;
        let name_bytes = &block[name.0..name.1];
        let name =
            HeaderName::from_bytes(name_bytes).map_err(|_| WireError::InvalidHeaderName {
                name: clip(name_bytes),
            })?;
        let value =
            HeaderValue::from_maybe_shared(block.slice(value.0..value.1)).map_err(|_| {
                WireError::InvalidHeaderValue {
                    name: name.as_str().to_string(),
                }
            })?;
        if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING {
            continue;
        }
        if kind == Block::RequestHeaders && name == header::HOST {
            map.insert(name, value);
        } else {
            map.append(name, value);
        }
    }
    Ok(())
}

/// A cursor over a header block that never reads past its end.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn u32(&mut self) -> Option<u32> {
        let b = self.buf.get(self.pos..self.pos.checked_add(4)?)?;
        self.pos += 4;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A length-prefixed field, as the range it occupies in the block.
    fn field(&mut self) -> Option<(usize, usize)> {
        let len = self.u32()? as usize;
        let start = self.pos;
        let end = start.checked_add(len)?;
        if end > self.buf.len() {
            return None;
        }
        self.pos = end;
        Some((start, end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(pairs: &[(&[u8], &[u8])]) -> Bytes {
        let mut out = BytesMut::new();
        out.put_u32_le(pairs.len() as u32);
        for (n, v) in pairs {
            out.put_u32_le(n.len() as u32);
            out.put_slice(n);
            out.put_u32_le(v.len() as u32);
            out.put_slice(v);
        }
        out.freeze()
    }

    fn decode(b: Bytes, kind: Block) -> Result<HeaderMap, WireError> {
        let mut map = HeaderMap::new();
        decode_block(
            b,
            kind,
            &DecodeLimits::default(),
            &mut Budget::default(),
            &mut map,
        )?;
        Ok(map)
    }

    #[test]
    fn the_fast_check_agrees_with_the_public_predicates() {
        let names = [
            "content-length",
            "trailer",
            "connection",
            "te",
            "transfer-encoding",
            "upgrade",
            "keep-alive",
            "proxy-connection",
            "host",
            "content-type",
            "x-trace-id",
            "tee",
            "trailers",
        ];
        for n in names {
            let name = HeaderName::from_static(n);
            assert_eq!(
                never_sent(name.as_str()),
                is_frame_owned(&name) || is_hop_by_hop(&name),
                "{n}"
            );
        }
    }

    #[test]
    fn canonical_case_matches_go() {
        let mut out = BytesMut::new();
        put_canonical(b"x-trace-id", &mut out);
        put_canonical(b"www-authenticate", &mut out);
        put_canonical(b"a--b-", &mut out);
        assert_eq!(&out[..], b"X-Trace-IdWww-AuthenticateA--B-");
    }

    #[test]
    fn repeated_names_keep_their_order_and_last_host_wins() {
        let map = decode(
            block(&[
                (b"X-Multi", b"1"),
                (b"Host", b"a.example"),
                (b"x-multi", b"2"),
                (b"host", b"b.example"),
            ]),
            Block::RequestHeaders,
        )
        .unwrap();
        let multi: Vec<_> = map.get_all("x-multi").iter().collect();
        assert_eq!(multi, ["1", "2"]);
        assert_eq!(map.get_all("host").iter().count(), 1);
        assert_eq!(map["host"], "b.example");
    }

    #[test]
    fn framing_fields_are_dropped_on_decode_and_skipped_on_encode() {
        let map = decode(
            block(&[
                (b"Content-Length", b"999"),
                (b"Transfer-Encoding", b"chunked"),
                (b"A", b"b"),
            ]),
            Block::Other,
        )
        .unwrap();
        assert_eq!(map.len(), 1);

        let mut map = HeaderMap::new();
        map.insert("content-length", HeaderValue::from_static("3"));
        map.insert("connection", HeaderValue::from_static("close, x-private"));
        map.insert("x-private", HeaderValue::from_static("1"));
        map.insert("keep-alive", HeaderValue::from_static("5"));
        map.insert("x-kept", HeaderValue::from_static("1"));
        let plan = Plan::new(&map).unwrap();
        let mut out = BytesMut::new();
        plan.write(HeaderCase::Canonical, &mut out);
        assert_eq!(out.len(), plan.len());
        let back = decode(out.freeze(), Block::Other).unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!(back["x-kept"], "1");
    }

    #[test]
    fn truncations_and_bad_fields_are_errors() {
        let bad: [&[u8]; 5] = [
            &[1, 0, 0],                                        // short count
            &[1, 0, 0, 0, 1, 0, 0, 0, b'a'],                   // count fits, value missing
            &[1, 0, 0, 0, 9, 0, 0, 0, b'a', 0, 0, 0, 0],       // name runs past the end
            &[255, 255, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0],     // absurd count
            &[1, 0, 0, 0, 1, 0, 0, 0, b'a', 2, 0, 0, 0, b'x'], // value runs past the end
        ];
        for b in bad {
            assert!(
                matches!(
                    decode(Bytes::copy_from_slice(b), Block::Other),
                    Err(WireError::TruncatedHeaders(_) | WireError::TooManyHeaders { .. })
                ),
                "{b:?}"
            );
        }
        assert!(matches!(
            decode(block(&[(b"bad name", b"v")]), Block::Other),
            Err(WireError::InvalidHeaderName { .. })
        ));
        assert!(matches!(
            decode(block(&[(b"", b"v")]), Block::Other),
            Err(WireError::InvalidHeaderName { .. })
        ));
        assert!(matches!(
            decode(block(&[(b"x", b"a\r\nb")]), Block::Other),
            Err(WireError::InvalidHeaderValue { .. })
        ));
        assert!(matches!(
            decode(block(&[(b"x", b"a\0b")]), Block::Other),
            Err(WireError::InvalidHeaderValue { .. })
        ));
    }

    #[test]
    fn trailing_bytes_and_zero_count_are_accepted() {
        let mut b = BytesMut::from(&block(&[(b"a", b"1")])[..]);
        b.put_slice(b"junk");
        assert_eq!(decode(b.freeze(), Block::Other).unwrap().len(), 1);
        assert!(
            decode(Bytes::from_static(&[0, 0, 0, 0]), Block::Other)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn limits_hold() {
        let limits = DecodeLimits {
            max_headers: 2,
            max_header_bytes: 64,
        };
        let mut map = HeaderMap::new();
        let mut budget = Budget::default();
        let three = block(&[(b"a", b"1"), (b"b", b"2"), (b"c", b"3")]);
        assert!(matches!(
            decode_block(three, Block::Other, &limits, &mut budget, &mut map),
            Err(WireError::TooManyHeaders { count: 3, max: 2 })
        ));
        let big = block(&[(b"a", &[b'v'; 100])]);
        assert!(matches!(
            decode_block(big, Block::Other, &limits, &mut budget, &mut map),
            Err(WireError::HeadersTooLarge { .. })
        ));
    }
}
