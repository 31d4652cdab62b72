//! Decoding ZAP messages (without their length prefix) into `http` types.
//!
//! Every field is read through zap-wire's checked accessors, so a slot that points
//! outside the message is an error. Header values and the body are slices of the
//! message buffer: nothing is copied.

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use zap_wire::{FLAG_COMPRESSED, FLAG_ENCRYPTED, FLAG_SIGNED, Message, Object};

use super::error::{WireError, clip};
use super::frame::{
    DecodeLimits, FrameType, ReasonPhrase, WireProto, proto_for, reason_for, request_slot,
    response_slot, version_for,
};
use super::headers::{Block, Budget, decode_block};

/// A decoded request frame.
#[derive(Debug)]
pub struct DecodedRequest {
    /// Method, URI (from the target), version (from the protocol), headers and body.
    /// A protocol text that the version does not reproduce is kept as a [`WireProto`]
    /// extension.
    pub request: Request<Bytes>,
    /// The trailer slot's fields, if it was not null.
    pub trailers: Option<HeaderMap>,
}

/// A decoded response frame (inline or the head of a stream).
#[derive(Debug)]
pub struct DecodedResponse {
    /// Status, version, headers and body (empty for a stream head). A reason phrase
    /// other than the canonical one is kept as a [`ReasonPhrase`] extension.
    pub response: Response<Bytes>,
    /// The trailer slot's fields, if it was not null.
    pub trailers: Option<HeaderMap>,
}

/// What a client may receive first after sending a request.
#[derive(Debug)]
pub enum Reply {
    /// The whole response (frame type 2).
    Full(DecodedResponse),
    /// The head of a streamed response (frame type 3); data and end frames follow.
    Head(Response<()>),
}

/// What may follow a response head.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunk {
    /// One chunk of the body (frame type 4); may be empty.
    Data(Bytes),
    /// The end of the body (frame type 5), with trailers if the slot was not null.
    End(Option<HeaderMap>),
}

/// Any decoded frame.
#[derive(Debug)]
pub enum Frame {
    /// A request (type 1).
    Request(Box<DecodedRequest>),
    /// A whole response (type 2).
    Response(Box<DecodedResponse>),
    /// A streamed response head (type 3).
    ResponseHead(Box<Response<()>>),
    /// A body chunk (type 4).
    Data(Bytes),
    /// The end of a streamed body (type 5).
    End(Option<HeaderMap>),
}

/// A parsed message: its type and root struct, over the frame's buffer.
struct Parsed<'a> {
    ty: FrameType,
    root: Object<'a>,
    buf: &'a Bytes,
}

impl<'a> Parsed<'a> {
    fn new(buf: &'a Bytes) -> Result<Self, WireError> {
        let msg = Message::parse(buf)?;
        let reserved = msg.flags() & (FLAG_COMPRESSED | FLAG_ENCRYPTED | FLAG_SIGNED);
        if reserved != 0 {
            return Err(WireError::ReservedFlags(reserved));
        }
        let ty = FrameType::from_u8(msg.msg_type())
            .ok_or(WireError::UnknownFrameType(msg.msg_type()))?;
        let root = msg.root().ok_or(WireError::NoRoot)?;
        Ok(Self { ty, root, buf })
    }

    fn expect(&self, expected: &'static str, ok: &[FrameType]) -> Result<(), WireError> {
        if ok.contains(&self.ty) {
            Ok(())
        } else {
            Err(WireError::UnexpectedFrame {
                expected,
                found: self.ty,
            })
        }
    }

    /// The bytes of a slot as a slice of the frame buffer; empty when null.
    fn slot(&self, off: usize) -> Result<Bytes, WireError> {
        Ok(match self.root.bytes(off)? {
            Some(b) if !b.is_empty() => self.buf.slice_ref(b),
            _ => Bytes::new(),
        })
    }

    /// The bytes of a slot, borrowed (no reference count is taken); empty when null.
    fn slot_ref(&self, off: usize) -> Result<&'a [u8], WireError> {
        Ok(self.root.bytes(off)?.unwrap_or_default())
    }

    fn request(&self, limits: &DecodeLimits) -> Result<DecodedRequest, WireError> {
        let method = self.slot_ref(request_slot::METHOD)?;
        let target = self.slot(request_slot::TARGET)?;
        let proto = self.slot_ref(request_slot::PROTO)?;
        let headers = self.slot(request_slot::HEADERS)?;
        let body = self.slot(request_slot::BODY)?;
        let trailer = self.slot(request_slot::TRAILER)?;

        let method = if method.is_empty() {
            Method::GET
        } else {
            Method::from_bytes(method).map_err(|_| WireError::InvalidMethod {
                method: clip(method),
            })?
        };
        let uri = if target.is_empty() {
            Uri::from_static("/")
        } else {
            Uri::from_maybe_shared(target.clone()).map_err(|_| WireError::InvalidTarget {
                target: clip(&target),
            })?
        };
        let mut budget = Budget::default();
        let mut request = Request::new(body);
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.version_mut() = version_for(proto);
        decode_block(
            headers,
            Block::RequestHeaders,
            limits,
            &mut budget,
            request.headers_mut(),
        )?;
        let trailers = trailers(trailer, limits, &mut budget)?;
        if proto_for(request.version()).as_bytes() != proto {
            request
                .extensions_mut()
                .insert(WireProto(self.buf.slice_ref(proto)));
        }
        Ok(DecodedRequest { request, trailers })
    }

    fn response(&self, limits: &DecodeLimits) -> Result<DecodedResponse, WireError> {
        let raw = self.root.u16(response_slot::STATUS)?;
        let status = StatusCode::from_u16(raw).map_err(|_| WireError::InvalidStatus(raw))?;
        let reason = self.slot_ref(response_slot::REASON)?;
        let proto = self.slot_ref(response_slot::PROTO)?;
        let headers = self.slot(response_slot::HEADERS)?;
        let body = self.slot(response_slot::BODY)?;
        let trailer = self.slot(response_slot::TRAILER)?;
        if self.ty == FrameType::ResponseHead && !(body.is_empty() && trailer.is_empty()) {
            return Err(WireError::Malformed(
                "a response head carries a body or trailers",
            ));
        }
        let mut budget = Budget::default();
        let mut response = Response::new(body);
        *response.status_mut() = status;
        *response.version_mut() = version_for(proto);
        decode_block(
            headers,
            Block::Other,
            limits,
            &mut budget,
            response.headers_mut(),
        )?;
        let trailers = trailers(trailer, limits, &mut budget)?;
        if proto_for(response.version()).as_bytes() != proto {
            response
                .extensions_mut()
                .insert(WireProto(self.buf.slice_ref(proto)));
        }
        if reason_for(status).as_bytes() != reason {
            response
                .extensions_mut()
                .insert(ReasonPhrase(self.buf.slice_ref(reason)));
        }
        Ok(DecodedResponse { response, trailers })
    }

    fn chunk(&self, limits: &DecodeLimits) -> Result<Chunk, WireError> {
        let data = self.slot(0)?;
        Ok(match self.ty {
            FrameType::Data => Chunk::Data(data),
            _ => Chunk::End(trailers(data, limits, &mut Budget::default())?),
        })
    }
}

fn trailers(
    block: Bytes,
    limits: &DecodeLimits,
    budget: &mut Budget,
) -> Result<Option<HeaderMap>, WireError> {
    if block.is_empty() {
        return Ok(None);
    }
    let mut map = HeaderMap::new();
    decode_block(block, Block::Other, limits, budget, &mut map)?;
    Ok(Some(map))
}

/// The frame type of a message, after checking its ZAP header.
pub fn frame_type(message: &[u8]) -> Result<FrameType, WireError> {
    let msg = Message::parse(message)?;
    FrameType::from_u8(msg.msg_type()).ok_or(WireError::UnknownFrameType(msg.msg_type()))
}

/// Decodes a request frame; any other type is [`WireError::UnexpectedFrame`].
pub fn decode_request(message: Bytes, limits: &DecodeLimits) -> Result<DecodedRequest, WireError> {
    let p = Parsed::new(&message)?;
    p.expect("a request", &[FrameType::Request])?;
    p.request(limits)
}

/// Decodes a whole-response frame (type 2). A stream head (type 3) is refused by name
/// rather than read as an empty response; use [`decode_reply`] to accept both.
pub fn decode_response(
    message: Bytes,
    limits: &DecodeLimits,
) -> Result<DecodedResponse, WireError> {
    let p = Parsed::new(&message)?;
    p.expect("a whole response", &[FrameType::Response])?;
    p.response(limits)
}

/// Decodes what answers a request: a whole response or the head of a stream.
pub fn decode_reply(message: Bytes, limits: &DecodeLimits) -> Result<Reply, WireError> {
    let p = Parsed::new(&message)?;
    p.expect(
        "a response or response head",
        &[FrameType::Response, FrameType::ResponseHead],
    )?;
    let decoded = p.response(limits)?;
    Ok(match p.ty {
        FrameType::Response => Reply::Full(decoded),
        _ => Reply::Head(decoded.response.map(|_| ())),
    })
}

/// Decodes what follows a response head: a data or end frame.
pub fn decode_chunk(message: Bytes, limits: &DecodeLimits) -> Result<Chunk, WireError> {
    let p = Parsed::new(&message)?;
    p.expect("a data or end frame", &[FrameType::Data, FrameType::End])?;
    p.chunk(limits)
}

/// Decodes any frame.
pub fn decode(message: Bytes, limits: &DecodeLimits) -> Result<Frame, WireError> {
    let p = Parsed::new(&message)?;
    Ok(match p.ty {
        FrameType::Request => Frame::Request(Box::new(p.request(limits)?)),
        FrameType::Response => Frame::Response(Box::new(p.response(limits)?)),
        FrameType::ResponseHead => {
            Frame::ResponseHead(Box::new(p.response(limits)?.response.map(|_| ())))
        }
        FrameType::Data | FrameType::End => match p.chunk(limits)? {
            Chunk::Data(d) => Frame::Data(d),
            Chunk::End(t) => Frame::End(t),
        },
    })
}
