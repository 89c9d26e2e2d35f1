//! Request/response framing: size prefix, headers (versioned), correlation ids.
//! Pure functions, so the wire format is unit-testable without sockets.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

use crate::error::{Error, Result};
use crate::versions::api_name;

/// Largest response frame we accept.
pub const MAX_FRAME: usize = 256 * 1024 * 1024;

fn codec_err(key: i16, version: i16, e: impl std::fmt::Display) -> Error {
    Error::Codec { api: api_name(key), version, message: e.to_string() }
}

/// Encode a full frame: 4-byte size, request header (version per API), body.
pub fn encode_request<R: Request>(req: &R, version: i16, correlation_id: i32, client_id: &StrBytes) -> Result<Bytes> {
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(client_id.clone()));
    let hv = R::header_version(version);
    let size = header.compute_size(hv).and_then(|h| req.compute_size(version).map(|b| h + b)).map_err(|e| codec_err(R::KEY, version, e))?;
    let mut buf = BytesMut::with_capacity(4 + size);
    buf.put_i32(i32::try_from(size).map_err(|e| codec_err(R::KEY, version, e))?);
    header.encode(&mut buf, hv).map_err(|e| codec_err(R::KEY, version, e))?;
    req.encode(&mut buf, version).map_err(|e| codec_err(R::KEY, version, e))?;
    Ok(buf.freeze())
}

/// The correlation id of a response frame (size prefix already removed).
pub fn peek_correlation_id(frame: &[u8]) -> Option<i32> {
    frame.get(..4).map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Decode a response frame (size prefix removed) for request type `R` at `version`.
pub fn decode_response<R: Request>(mut frame: Bytes, version: i16) -> Result<(i32, R::Response)> {
    let hv = <R::Response as HeaderVersion>::header_version(version);
    let header = ResponseHeader::decode(&mut frame, hv).map_err(|e| codec_err(R::KEY, version, e))?;
    let body = R::Response::decode(&mut frame, version).map_err(|e| codec_err(R::KEY, version, e))?;
    if frame.has_remaining() {
        return Err(codec_err(R::KEY, version, format!("{} trailing bytes", frame.remaining())));
    }
    Ok((header.correlation_id, body))
}

/// Encode a response frame body (no size prefix): used by tests and fake brokers.
pub fn encode_response<R: Request>(resp: &R::Response, version: i16, correlation_id: i32) -> Result<Bytes> {
    let hv = <R::Response as HeaderVersion>::header_version(version);
    let mut buf = BytesMut::new();
    ResponseHeader::default().with_correlation_id(correlation_id).encode(&mut buf, hv).map_err(|e| codec_err(R::KEY, version, e))?;
    resp.encode(&mut buf, version).map_err(|e| codec_err(R::KEY, version, e))?;
    Ok(buf.freeze())
}

/// Decode a request frame (size prefix removed), as a broker would: used by tests.
pub fn decode_request<R: Request>(mut frame: Bytes) -> Result<(RequestHeader, R)> {
    let header = kafka_protocol::protocol::decode_request_header_from_buffer(&mut frame).map_err(|e| codec_err(R::KEY, -1, e))?;
    let version = header.request_api_version;
    let body = R::decode(&mut frame, version).map_err(|e| codec_err(R::KEY, version, e))?;
    if frame.has_remaining() {
        return Err(codec_err(R::KEY, version, "trailing bytes"));
    }
    Ok((header, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse, MetadataRequest};

    #[test]
    fn api_versions_v3_golden_bytes() {
        // Request header v2 (flexible): key, version, correlation id, client id (nullable
        // string, non-compact), empty tagged fields; body: compact strings + tagged fields.
        let req = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("g"))
            .with_client_software_version(StrBytes::from_static_str("1"));
        let frame = encode_request(&req, 3, 7, &StrBytes::from_static_str("c")).unwrap();
        let expected: &[u8] = &[
            0, 0, 0, 17, // size
            0, 18, 0, 3, 0, 0, 0, 7, // key 18, v3, correlation 7
            0, 1, b'c', 0, // client id "c", no tags
            2, b'g', 2, b'1', 0, // compact "g", compact "1", no tags
        ];
        assert_eq!(&frame[..], expected);
        assert_eq!(peek_correlation_id(&frame[4..]), Some(0x0012_0003));
    }

    #[test]
    fn response_header_v0_for_api_versions_and_v1_for_flexible() {
        let resp = ApiVersionsResponse::default().with_throttle_time_ms(5);
        let body = encode_response::<ApiVersionsRequest>(&resp, 3, 42).unwrap();
        assert_eq!(peek_correlation_id(&body), Some(42));
        // v0 header: no tagged-field byte after the correlation id; error code follows.
        assert_eq!(&body[4..6], &[0, 0]);
        let (corr, back) = decode_response::<ApiVersionsRequest>(body, 3).unwrap();
        assert_eq!((corr, back), (42, resp));
    }

    #[test]
    fn request_round_trip_through_broker_side_decoder() {
        let req = MetadataRequest::default().with_topics(None).with_allow_auto_topic_creation(false);
        let frame = encode_request(&req, 12, 9, &StrBytes::from_static_str("gregor")).unwrap();
        let (h, back) = decode_request::<MetadataRequest>(frame.slice(4..)).unwrap();
        assert_eq!(h.correlation_id, 9);
        assert_eq!(h.request_api_version, 12);
        assert_eq!(back, req);
    }

    #[test]
    fn trailing_bytes_are_an_error() {
        let resp = ApiVersionsResponse::default();
        let body = encode_response::<ApiVersionsRequest>(&resp, 3, 1).unwrap();
        let mut longer = BytesMut::from(&body[..]);
        longer.put_u8(0);
        assert!(decode_response::<ApiVersionsRequest>(longer.freeze(), 3).is_err());
    }
}
