//! Length-prefixed frames, and the one request-response codec built on
//! them that the sync and deliver protocols (and the benchmark's echo)
//! share.
//!
//! A frame is a big-endian `u32` length, then that many bytes; an empty
//! frame or one over the protocol's limit is refused. The length is checked
//! before anything is read or allocated, and the buffer grows only as bytes
//! arrive. A protocol says what its messages are and how large each may be
//! ([`FramedProtocol`]); [`FramedCodec`] does the rest, holding inbound
//! request frames against the node-wide byte budget when it has one.

use crate::budget::ByteBudget;
use crate::sync::ProtocolError;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use std::io;
use std::marker::PhantomData;
use std::sync::Arc;

/// Prefixes `body` with its length, refusing an empty body or one over
/// `max` bytes (or over `u32::MAX`, which the prefix cannot express).
pub fn frame_bounded(body: &[u8], max: usize) -> Result<Vec<u8>, ProtocolError> {
    let len = match u32::try_from(body.len()) {
        Ok(len) if len > 0 && body.len() <= max => len,
        _ => return Err(ProtocolError::FrameLength { len: body.len(), max }),
    };
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
    Ok(out)
}

/// A protocol error as the I/O error a codec returns.
pub(crate) fn invalid(e: ProtocolError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Like [`read_frame_bounded`], holding the frame's announced length
/// against `budget` (when given) while it is read: the bytes all peers'
/// unfinished frames make this node hold are bounded node-wide. With the
/// budget spent, the stream fails at once and the peer retries later.
pub(crate) async fn read_frame_budgeted<R: AsyncRead + Unpin>(
    io: &mut R,
    max: usize,
    budget: Option<&Arc<ByteBudget>>,
) -> io::Result<Vec<u8>> {
    let Some(budget) = budget else { return read_frame_bounded(io, max).await };
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len == 0 || len > max {
        return Err(invalid(ProtocolError::FrameLength { len, max }));
    }
    let _permit = budget.reserve(len).ok_or_else(|| io::Error::other("node busy: inbound byte budget spent"))?;
    let mut body = Vec::new();
    io.take(len as u64).read_to_end(&mut body).await?;
    if body.len() != len {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "frame truncated"));
    }
    Ok(body)
}

/// Reads one frame body of at most `max` bytes. The length is checked
/// before anything is read or allocated, and the buffer then grows only as
/// bytes actually arrive, so a peer announcing a large frame and sending
/// nothing costs us nothing.
pub async fn read_frame_bounded<R: AsyncRead + Unpin>(io: &mut R, max: usize) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len == 0 || len > max {
        return Err(invalid(ProtocolError::FrameLength { len, max }));
    }
    let mut body = Vec::new();
    io.take(len as u64).read_to_end(&mut body).await?;
    if body.len() != len {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "frame truncated"));
    }
    Ok(body)
}

/// Writes `body` as one frame of at most `max` bytes and flushes.
pub async fn write_frame_bounded<W: AsyncWrite + Unpin>(io: &mut W, body: &[u8], max: usize) -> io::Result<()> {
    let bytes = frame_bounded(body, max).map_err(invalid)?;
    io.write_all(&bytes).await?;
    io.flush().await
}

/// A request-response protocol of framed messages: its message types, how
/// each is encoded and checked, and the largest frame of each direction.
pub trait FramedProtocol: Send + 'static {
    /// What the dialer sends.
    type Request: Send;
    /// What the listener answers.
    type Response: Send;
    /// The largest request frame.
    const MAX_REQUEST_BYTES: usize;
    /// The largest response frame.
    const MAX_RESPONSE_BYTES: usize;
    /// Encodes and checks a request.
    fn request_to_body(request: &Self::Request) -> Result<Vec<u8>, ProtocolError>;
    /// Decodes and checks a request.
    fn request_from_body(body: &[u8]) -> Result<Self::Request, ProtocolError>;
    /// Encodes and checks a response.
    fn response_to_body(response: &Self::Response) -> Result<Vec<u8>, ProtocolError>;
    /// Decodes and checks a response.
    fn response_from_body(body: &[u8]) -> Result<Self::Response, ProtocolError>;
}

/// The codec of a [`FramedProtocol`]: one frame per message, every bound
/// checked on both sides, inbound requests held against a byte budget.
#[derive(Debug)]
pub struct FramedCodec<P> {
    /// Bytes of inbound request frames being read, node-wide.
    budget: Option<Arc<ByteBudget>>,
    protocol: PhantomData<fn() -> P>,
}

impl<P> Clone for FramedCodec<P> {
    fn clone(&self) -> Self {
        FramedCodec { budget: self.budget.clone(), protocol: PhantomData }
    }
}

impl<P> Default for FramedCodec<P> {
    fn default() -> Self {
        FramedCodec { budget: None, protocol: PhantomData }
    }
}

impl<P> FramedCodec<P> {
    /// A codec that reads requests within `budget`.
    pub fn with_budget(budget: Arc<ByteBudget>) -> FramedCodec<P> {
        FramedCodec { budget: Some(budget), protocol: PhantomData }
    }
}

impl<P: FramedProtocol> libp2p::request_response::Codec for FramedCodec<P> {
    type Protocol = StreamProtocol;
    type Request = P::Request;
    type Response = P::Response;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<P::Request>
    where
        T: AsyncRead + Unpin + Send,
    {
        let body = read_frame_budgeted(io, P::MAX_REQUEST_BYTES, self.budget.as_ref()).await?;
        P::request_from_body(&body).map_err(invalid)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<P::Response>
    where
        T: AsyncRead + Unpin + Send,
    {
        let body = read_frame_bounded(io, P::MAX_RESPONSE_BYTES).await?;
        P::response_from_body(&body).map_err(invalid)
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, request: P::Request) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let body = P::request_to_body(&request).map_err(invalid)?;
        write_frame_bounded(io, &body, P::MAX_REQUEST_BYTES).await
    }

    async fn write_response<T>(&mut self, _: &StreamProtocol, io: &mut T, response: P::Response) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let body = P::response_to_body(&response).map_err(invalid)?;
        write_frame_bounded(io, &body, P::MAX_RESPONSE_BYTES).await
    }
}
