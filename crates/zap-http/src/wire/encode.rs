//! Encoding requests, responses and stream chunks into length-prefixed frames.
//!
//! The layout is computed first, then the prefix, the 16-byte ZAP header, the fixed
//! section and the small fields are written into one buffer in a single pass. A large
//! body is not copied: it stays a separate [`Bytes`] that a vectored write sends as is.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::{HeaderMap, Method, Uri, request, response};
use zap_wire::{HEADER_SIZE, Header, Version};

use super::error::WireError;
use super::frame::{
    CHUNK_STRUCT_SIZE, EncodeOptions, FrameType, LENGTH_PREFIX, ReasonPhrase, STRUCT_SIZE,
    WireProto, proto_for, reason_for,
};
use super::headers::Plan;

/// Bodies up to this size are copied next to the headers so that the frame goes out in
/// one contiguous write; larger ones are sent from their own buffer.
const COPY_BODY_UP_TO: usize = 8 << 10;

/// Where the root struct sits: right after the header, as every Go encoder writes it.
const ROOT: usize = HEADER_SIZE;

/// One encoded frame: the length prefix and the ZAP message, in up to three buffers.
///
/// It implements [`Buf`], so `AsyncWriteExt::write_all_buf` sends it with vectored
/// writes and no copy of the body. Cloning is cheap (reference counts).
#[derive(Debug, Clone, Default)]
pub struct EncodedFrame {
    head: Bytes,
    body: Bytes,
    tail: Bytes,
}

impl EncodedFrame {
    /// Bytes on the wire, length prefix included.
    pub fn len(&self) -> usize {
        self.head.len() + self.body.len() + self.tail.len()
    }

    /// True for a frame with nothing left to send (a default, or one fully written).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The whole frame, length prefix included, in one buffer.
    pub fn to_bytes(&self) -> Bytes {
        if self.body.is_empty() && self.tail.is_empty() {
            return self.head.clone();
        }
        let mut out = BytesMut::with_capacity(self.len());
        out.put_slice(&self.head);
        out.put_slice(&self.body);
        out.put_slice(&self.tail);
        out.freeze()
    }

    /// The frame's bytes as a [`Buf`] borrowing its buffers: writing it leaves the frame
    /// whole, and needs no clone (cloning a freshly frozen buffer allocates).
    pub(crate) fn cursor(&self) -> impl Buf + '_ {
        (&self.head[..]).chain(&self.body[..]).chain(&self.tail[..])
    }

    /// The whole frame when it sits in one buffer (small bodies are copied next to the
    /// head), so a writer can skip the vectored path.
    pub(crate) fn contiguous(&self) -> Option<&[u8]> {
        (self.body.is_empty() && self.tail.is_empty()).then_some(&self.head[..])
    }

    /// The ZAP message alone (no length prefix), in one buffer.
    pub fn message(&self) -> Bytes {
        self.to_bytes().slice(LENGTH_PREFIX..)
    }
}

impl Buf for EncodedFrame {
    fn remaining(&self) -> usize {
        self.len()
    }

    fn chunk(&self) -> &[u8] {
        if !self.head.is_empty() {
            &self.head
        } else if !self.body.is_empty() {
            &self.body
        } else {
            &self.tail
        }
    }

    fn advance(&mut self, mut cnt: usize) {
        for part in [&mut self.head, &mut self.body, &mut self.tail] {
            let n = cnt.min(part.len());
            part.advance(n);
            cnt -= n;
        }
        assert!(cnt == 0, "advanced past the end of an EncodedFrame");
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [std::io::IoSlice<'a>]) -> usize {
        let mut n = 0;
        for part in [&self.head, &self.body, &self.tail] {
            if n == dst.len() {
                break;
            }
            if !part.is_empty() {
                dst[n] = std::io::IoSlice::new(part);
                n += 1;
            }
        }
        n
    }
}

/// The first slot of a struct: a text field, or the response status.
enum First<'a> {
    Text(&'a [u8]),
    Status(u16),
}

/// The fields of a Request or Response struct, measured and ready to write.
struct Fields<'a> {
    first: First<'a>,
    second: &'a [u8],
    proto: &'a [u8],
    headers: Plan<'a>,
    body: &'a Bytes,
    trailer: Option<Plan<'a>>,
}

impl Fields<'_> {
    fn encode(self, ty: FrameType, opts: &EncodeOptions) -> Result<EncodedFrame, WireError> {
        self.encode_with(ty, opts, None)
    }

    /// Encodes into `scratch` when given: its buffer comes back for the next frame once
    /// this one is dropped, so a connection that keeps it allocates no head per frame.
    fn encode_with(
        self,
        ty: FrameType,
        opts: &EncodeOptions,
        scratch: Option<&mut BytesMut>,
    ) -> Result<EncodedFrame, WireError> {
        let first_len = match self.first {
            First::Text(t) => t.len(),
            First::Status(_) => 0,
        };
        let trailer_len = self.trailer.as_ref().map_or(0, Plan::len);
        let lens = [
            first_len,
            self.second.len(),
            self.proto.len(),
            self.headers.len(),
            self.body.len(),
            trailer_len,
        ];
        let total = lens
            .iter()
            .try_fold((ROOT + STRUCT_SIZE) as u64, |acc, l| {
                acc.checked_add(*l as u64)
            })
            .unwrap_or(u64::MAX);
        check_size(total, opts)?;

        let copy_body = self.body.len() <= COPY_BODY_UP_TO;
        let small = first_len + self.second.len() + self.proto.len() + self.headers.len();
        let mut cap = LENGTH_PREFIX + ROOT + STRUCT_SIZE + small;
        if copy_body {
            cap += self.body.len() + trailer_len;
        }
        let mut fresh;
        let reused = scratch.is_some();
        let out = match scratch {
            Some(buf) => {
                buf.clear();
                buf.reserve(cap);
                buf
            }
            None => {
                fresh = BytesMut::with_capacity(cap);
                &mut fresh
            }
        };
        put_prefix_and_header(out, ty, total as u32);

        // The fixed section: slot i sits at ROOT + 8i and points at data laid out after
        // the section in field order, with no padding.
        let mut data = ROOT + STRUCT_SIZE;
        for (i, len) in lens.iter().enumerate() {
            let slot = ROOT + 8 * i;
            match (i, &self.first) {
                (0, First::Status(status)) => {
                    out.put_u16_le(*status);
                    out.put_bytes(0, 6);
                }
                _ if *len == 0 => out.put_bytes(0, 8),
                _ => {
                    out.put_u32_le((data - slot) as u32);
                    out.put_u32_le(*len as u32);
                    data += len;
                }
            }
        }
        if let First::Text(t) = self.first {
            out.put_slice(t);
        }
        out.put_slice(self.second);
        out.put_slice(self.proto);
        self.headers.write(opts.header_case, out);
        let head = |out: &mut BytesMut| {
            if reused {
                out.split().freeze()
            } else {
                std::mem::take(out).freeze()
            }
        };
        if copy_body {
            out.put_slice(self.body);
            if let Some(t) = &self.trailer {
                t.write(opts.header_case, out);
            }
            return Ok(EncodedFrame {
                head: head(out),
                ..EncodedFrame::default()
            });
        }
        let tail = match &self.trailer {
            Some(t) if t.len() > 0 => {
                let mut tail = BytesMut::with_capacity(t.len());
                t.write(opts.header_case, &mut tail);
                tail.freeze()
            }
            _ => Bytes::new(),
        };
        Ok(EncodedFrame {
            head: head(out),
            body: self.body.clone(),
            tail,
        })
    }
}

fn check_size(total: u64, opts: &EncodeOptions) -> Result<(), WireError> {
    let max = opts.max_frame.min(u32::MAX as usize);
    if total > max as u64 {
        return Err(WireError::FrameTooLarge { len: total, max });
    }
    Ok(())
}

fn put_prefix_and_header(out: &mut BytesMut, ty: FrameType, size: u32) {
    out.put_u32(size);
    let mut header = [0u8; HEADER_SIZE];
    Header {
        version: Version::V1,
        flags: ty.flags(),
        root: ROOT as u32,
        size,
    }
    .write(&mut header);
    out.put_slice(&header);
}

/// The request target for a URI: origin form (`/path?query`), the authority for
/// `CONNECT`, `*` for `OPTIONS *`.
fn target<'a>(method: &Method, uri: &'a Uri) -> &'a str {
    if method == Method::CONNECT
        && let Some(authority) = uri.authority()
    {
        return authority.as_str();
    }
    match uri.path_and_query().map(|p| p.as_str()) {
        Some(t) if !t.is_empty() => t,
        _ => "/",
    }
}

/// Encodes a whole request (frame type 1).
///
/// Headers go out as they are in `parts`, in map order, except the frame-owned and
/// hop-by-hop fields (see [`is_frame_owned`](super::is_frame_owned) and
/// [`is_hop_by_hop`](super::is_hop_by_hop)). `Host` is an ordinary field: a client must
/// put it in the map (zap-http's client adds one after the others when the map has
/// none). The protocol is the [`WireProto`] extension if present, else the text of
/// `parts.version`.
pub fn encode_request(
    parts: &request::Parts,
    body: Bytes,
    trailers: Option<&HeaderMap>,
    opts: &EncodeOptions,
) -> Result<EncodedFrame, WireError> {
    request_fields(parts, None, &body, trailers)?.encode(FrameType::Request, opts)
}

/// [`encode_request`] into a connection's reusable buffer, with a `Host` field written
/// after the headers of `parts` when `host` is given (they must have none).
pub(crate) fn encode_request_in(
    parts: &request::Parts,
    host: Option<&[u8]>,
    body: &Bytes,
    trailers: Option<&HeaderMap>,
    opts: &EncodeOptions,
    scratch: &mut BytesMut,
) -> Result<EncodedFrame, WireError> {
    request_fields(parts, host, body, trailers)?.encode_with(
        FrameType::Request,
        opts,
        Some(scratch),
    )
}

fn request_fields<'a>(
    parts: &'a request::Parts,
    host: Option<&'a [u8]>,
    body: &'a Bytes,
    trailers: Option<&'a HeaderMap>,
) -> Result<Fields<'a>, WireError> {
    let proto = match parts.extensions.get::<WireProto>() {
        Some(p) => &p.0[..],
        None => proto_for(parts.version).as_bytes(),
    };
    Ok(Fields {
        first: First::Text(parts.method.as_str().as_bytes()),
        second: target(&parts.method, &parts.uri).as_bytes(),
        proto,
        headers: Plan::with_host(&parts.headers, host)?,
        body,
        trailer: trailers.map(Plan::new).transpose()?,
    })
}

fn response_fields<'a>(
    parts: &'a response::Parts,
    body: &'a Bytes,
    trailer: Option<Plan<'a>>,
) -> Result<Fields<'a>, WireError> {
    let reason = match parts.extensions.get::<ReasonPhrase>() {
        Some(r) => &r.0[..],
        None => reason_for(parts.status).as_bytes(),
    };
    let proto = match parts.extensions.get::<WireProto>() {
        Some(p) => &p.0[..],
        None => proto_for(parts.version).as_bytes(),
    };
    Ok(Fields {
        first: First::Status(parts.status.as_u16()),
        second: reason,
        proto,
        headers: Plan::new(&parts.headers)?,
        body,
        trailer,
    })
}

/// Encodes a whole response (frame type 2), body and trailers inline.
///
/// The reason phrase is the [`ReasonPhrase`] extension if present, else the canonical
/// one for the status.
pub fn encode_response(
    parts: &response::Parts,
    body: Bytes,
    trailers: Option<&HeaderMap>,
    opts: &EncodeOptions,
) -> Result<EncodedFrame, WireError> {
    let trailer = trailers.map(Plan::new).transpose()?;
    response_fields(parts, &body, trailer)?.encode(FrameType::Response, opts)
}

/// [`encode_response`] into a connection's reusable buffer.
pub(crate) fn encode_response_in(
    parts: &response::Parts,
    body: &Bytes,
    trailers: Option<&HeaderMap>,
    opts: &EncodeOptions,
    scratch: &mut BytesMut,
) -> Result<EncodedFrame, WireError> {
    let trailer = trailers.map(Plan::new).transpose()?;
    response_fields(parts, body, trailer)?.encode_with(FrameType::Response, opts, Some(scratch))
}

/// Encodes the head of a streamed response (frame type 3): status and headers; the body
/// follows in [`encode_data`] frames and ends with [`encode_end`].
pub fn encode_response_head(
    parts: &response::Parts,
    opts: &EncodeOptions,
) -> Result<EncodedFrame, WireError> {
    response_fields(parts, &Bytes::new(), None)?.encode(FrameType::ResponseHead, opts)
}

/// The 8-byte Chunk struct pointing at `len` bytes that follow it.
fn chunk_frame(ty: FrameType, len: usize, opts: &EncodeOptions) -> Result<BytesMut, WireError> {
    let total = (ROOT + CHUNK_STRUCT_SIZE) as u64 + len as u64;
    check_size(total, opts)?;
    let mut out = BytesMut::with_capacity(
        LENGTH_PREFIX + ROOT + CHUNK_STRUCT_SIZE + len.min(COPY_BODY_UP_TO),
    );
    put_prefix_and_header(&mut out, ty, total as u32);
    if len == 0 {
        out.put_bytes(0, 8);
    } else {
        out.put_u32_le(CHUNK_STRUCT_SIZE as u32);
        out.put_u32_le(len as u32);
    }
    Ok(out)
}

/// Encodes one chunk of a streamed body (frame type 4). The chunk is not copied unless
/// it is small.
pub fn encode_data(chunk: Bytes, opts: &EncodeOptions) -> Result<EncodedFrame, WireError> {
    let mut out = chunk_frame(FrameType::Data, chunk.len(), opts)?;
    if chunk.len() <= COPY_BODY_UP_TO {
        out.put_slice(&chunk);
        return Ok(EncodedFrame {
            head: out.freeze(),
            ..EncodedFrame::default()
        });
    }
    Ok(EncodedFrame {
        head: out.freeze(),
        body: chunk,
        tail: Bytes::new(),
    })
}

/// Encodes the end of a streamed body (frame type 5), with its trailers if any.
///
/// Go clients ignore the trailers of an end frame; Rust clients deliver them.
pub fn encode_end(
    trailers: Option<&HeaderMap>,
    opts: &EncodeOptions,
) -> Result<EncodedFrame, WireError> {
    let plan = trailers.map(Plan::new).transpose()?;
    let len = plan.as_ref().map_or(0, Plan::len);
    let mut out = chunk_frame(FrameType::End, len, opts)?;
    if let Some(plan) = plan {
        plan.write(opts.header_case, &mut out);
    }
    Ok(EncodedFrame {
        head: out.freeze(),
        ..EncodedFrame::default()
    })
}

#[cfg(test)]
mod tests {
    use super::super::frame::HeaderCase;
    use super::*;

    #[test]
    fn chunk_frames_match_the_layout_derived_from_go() {
        let opts = EncodeOptions::default();
        let data = encode_data(Bytes::from_static(b"hi"), &opts).unwrap();
        let msg = data.message();
        assert_eq!(msg.len(), 26);
        assert_eq!(&msg[6..8], &[0x00, 0x04]);
        assert_eq!(&msg[12..16], &26u32.to_le_bytes());
        assert_eq!(&msg[16..24], &[8, 0, 0, 0, 2, 0, 0, 0]);
        assert_eq!(&msg[24..], b"hi");

        let end = encode_end(None, &opts).unwrap().message();
        assert_eq!(end.len(), 24);
        assert_eq!(&end[6..8], &[0x00, 0x05]);
        assert_eq!(&end[16..24], &[0; 8]);
    }

    #[test]
    fn a_host_added_by_the_encoder_is_the_same_bytes_as_one_in_the_map() {
        let body = Bytes::from_static(b"payload");
        for case in [HeaderCase::Canonical, HeaderCase::Lower] {
            let opts = EncodeOptions {
                header_case: case,
                ..EncodeOptions::default()
            };
            let (mut parts, ()) = http::Request::post("http://a.example:81/x?y=1")
                .header("x-one", "1")
                .body(())
                .unwrap()
                .into_parts();
            let mut scratch = BytesMut::new();
            let added = encode_request_in(
                &parts,
                Some(b"a.example:81"),
                &body,
                None,
                &opts,
                &mut scratch,
            )
            .unwrap()
            .to_bytes();
            parts
                .headers
                .insert(http::header::HOST, "a.example:81".parse().unwrap());
            let in_map = encode_request(&parts, body.clone(), None, &opts).unwrap();
            assert_eq!(added, in_map.to_bytes(), "{case:?}");
        }
    }

    #[test]
    fn a_connection_buffer_is_reused_once_its_frame_is_gone() {
        let (parts, ()) = http::Request::get("/").body(()).unwrap().into_parts();
        let opts = EncodeOptions::default();
        let mut scratch = BytesMut::new();
        let body = Bytes::new();
        let first = encode_request_in(&parts, None, &body, None, &opts, &mut scratch).unwrap();
        let at = first.head.as_ptr();
        drop(first);
        let second = encode_request_in(&parts, None, &body, None, &opts, &mut scratch).unwrap();
        assert_eq!(
            second.head.as_ptr(),
            at,
            "the same memory, not a new allocation"
        );
    }

    #[test]
    fn the_size_limit_is_checked_before_writing() {
        let opts = EncodeOptions {
            max_frame: 100,
            ..EncodeOptions::default()
        };
        let err = encode_data(Bytes::from(vec![0u8; 77]), &opts).unwrap_err();
        assert_eq!(err, WireError::FrameTooLarge { len: 101, max: 100 });
        assert!(encode_data(Bytes::from(vec![0u8; 76]), &opts).is_ok());
    }

    #[test]
    fn a_large_body_is_not_copied_and_vectored_writes_see_three_parts() {
        let body = Bytes::from(vec![7u8; COPY_BODY_UP_TO + 1]);
        let (parts, _) = http::Request::post("/x").body(()).unwrap().into_parts();
        let mut trailers = HeaderMap::new();
        trailers.insert("x-sum", "1".parse().unwrap());
        let mut frame = encode_request(
            &parts,
            body.clone(),
            Some(&trailers),
            &EncodeOptions::default(),
        )
        .unwrap();
        assert_eq!(frame.body.as_ptr(), body.as_ptr());
        let mut slices = [std::io::IoSlice::new(&[]); 4];
        assert_eq!(frame.chunks_vectored(&mut slices), 3);
        let whole = frame.to_bytes();
        let mut collected = Vec::new();
        while frame.has_remaining() {
            let n = frame.chunk().len().min(1000);
            collected.extend_from_slice(&frame.chunk()[..n]);
            frame.advance(n);
        }
        assert_eq!(collected, whole);
    }
}
