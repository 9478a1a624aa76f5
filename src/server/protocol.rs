//! Turning one request line into a [`Request`], or into the error reply that
//! names what is wrong with it.
//!
//! The checks go from the outside in, so the reply names the first problem
//! a person would fix: not JSON, not an object, wrong version, unknown op,
//! then the op's own fields.

use control::api::{no_duplicate_keys, ErrorCode, Op, Request, Response, PROTOCOL_VERSION};
use serde_json::Value;

pub fn parse_request(line: &[u8]) -> Result<Request, Response> {
    let value: Value = serde_json::from_slice(line)
        .map_err(|e| Response::error(ErrorCode::Malformed, format!("not JSON: {e}")))?;
    // JSON parsers keep the last of two equal keys; which one a client
    // meant is not ours to guess.
    no_duplicate_keys(line)
        .map_err(|e| Response::error(ErrorCode::InvalidRequest, format!("invalid request: {e}")))?;
    let Value::Object(fields) = &value else {
        return Err(Response::error(
            ErrorCode::Malformed,
            "a request is a JSON object with \"v\" and \"op\"",
        ));
    };
    match fields.get("v") {
        Some(v) if v.as_u64() == Some(u64::from(PROTOCOL_VERSION)) => {}
        Some(v) => {
            return Err(Response::error(
                ErrorCode::UnsupportedVersion,
                format!(
                    "protocol version {v} is not supported; this ferrolb speaks {PROTOCOL_VERSION}"
                ),
            ))
        }
        None => {
            return Err(Response::error(
                ErrorCode::InvalidRequest,
                format!("missing \"v\" (the protocol version, {PROTOCOL_VERSION})"),
            ))
        }
    }
    match fields.get("op") {
        Some(Value::String(op)) if Op::NAMES.contains(&op.as_str()) => {}
        Some(Value::String(op)) => {
            return Err(Response::error(
                ErrorCode::UnknownOp,
                format!("unknown op {op:?}; known: {}", Op::NAMES.join(", ")),
            ))
        }
        Some(_) => {
            return Err(Response::error(
                ErrorCode::InvalidRequest,
                "\"op\" must be a string",
            ))
        }
        None => return Err(Response::error(ErrorCode::InvalidRequest, "missing \"op\"")),
    }
    let request = serde_json::from_value::<Request>(value.clone())
        .map_err(|e| Response::error(ErrorCode::InvalidRequest, format!("invalid request: {e}")))?;
    // Refuse fields the op does not have, so that a misspelt `dryrun` is an
    // error rather than a real apply. (serde's flatten cannot deny unknown
    // fields itself.) Every op writes all of its fields, so the op written
    // back holds exactly the known ones.
    let known = serde_json::to_value(&request).unwrap_or(Value::Null);
    if let Some(unknown) = fields.keys().find(|k| known.get(k.as_str()).is_none()) {
        return Err(Response::error(
            ErrorCode::InvalidRequest,
            format!(
                "invalid request: op {:?} has no field {unknown:?}",
                op_name(fields)
            ),
        ));
    }
    Ok(request)
}

fn op_name(fields: &serde_json::Map<String, Value>) -> &str {
    fields.get("op").and_then(Value::as_str).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(line: &str) -> ErrorCode {
        parse_request(line.as_bytes())
            .expect_err(line)
            .error
            .expect("an error reply has an error")
            .code
    }

    #[test]
    fn each_problem_has_its_code() {
        assert_eq!(code("{\"v\":1,"), ErrorCode::Malformed);
        assert_eq!(code("[1,2]"), ErrorCode::Malformed);
        assert_eq!(
            code(r#"{"v":2,"op":"hello"}"#),
            ErrorCode::UnsupportedVersion
        );
        assert_eq!(code(r#"{"op":"hello"}"#), ErrorCode::InvalidRequest);
        assert_eq!(code(r#"{"v":1,"op":"reboot"}"#), ErrorCode::UnknownOp);
        assert_eq!(code(r#"{"v":1,"op":7}"#), ErrorCode::InvalidRequest);
        assert_eq!(
            code(r#"{"v":1,"op":"backend_edit","service":"tcp/10.0.0.1:80"}"#),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            code(r#"{"v":1,"op":"hello","surprise":1}"#),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            code(r#"{"v":1,"op":"apply","config":"","dryrun":true}"#),
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn a_key_given_twice_is_refused_at_any_depth() {
        for line in [
            r#"{"v":1,"op":"hello","op":"stats"}"#,
            r#"{"v":1,"op":"backend_edit","service":"tcp/192.0.2.10:80","backend":"10.0.0.1","weight":0,"weight":5}"#,
            r#"{"v":1,"op":"backend_add","service":"tcp/192.0.2.10:80","backend":{"address":"10.0.0.1","address":"10.0.0.2"}}"#,
        ] {
            let reply = parse_request(line.as_bytes()).expect_err(line);
            let error = reply.error.expect("an error");
            assert_eq!(error.code, ErrorCode::InvalidRequest, "{line}");
            assert!(error.message.contains("given twice"), "{}", error.message);
        }
    }

    #[test]
    fn a_good_request_parses() {
        for op in Op::NAMES {
            // Ops without required fields parse bare.
            let line = format!(r#"{{"v":1,"op":"{op}"}}"#);
            if let Err(reply) = parse_request(line.as_bytes()) {
                let message = reply.error.unwrap().message;
                assert!(message.contains("missing field"), "{op}: {message}");
            }
        }
        let r = parse_request(br#"{"v":1,"op":"apply","config":"","dry_run":true}"#).unwrap();
        assert!(matches!(r.op, Op::Apply { dry_run: true, .. }));
        let r = parse_request(br#"{"v":1,"op":"list","stats":true}"#).unwrap();
        assert_eq!(
            r.op,
            Op::List {
                stats: true,
                rate: false
            }
        );
    }
}
