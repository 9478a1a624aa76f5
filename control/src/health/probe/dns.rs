//! DNS (keepalived's DNS_CHECK): one query over UDP; success is a reply
//! with the query's id, NOERROR and (with `require_answer`) at least one
//! answer record. Replies that are not ours (wrong id, not a response,
//! not DNS) are ignored until the deadline, so garbage cannot pass.

use std::net::SocketAddr;
use std::str::FromStr;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use tokio::time::timeout_at;

use super::udp::{open, unreachable};
use super::{Deadline, Passed};
use crate::health::spec::DnsSpec;

pub async fn probe(
    target: SocketAddr,
    spec: &DnsSpec,
    deadline: Deadline,
) -> Result<Passed, String> {
    let name = Name::from_ascii(&spec.name).map_err(|e| format!("query_name: {e}"))?;
    let rtype = RecordType::from_str(&spec.record_type).map_err(|e| format!("query_type: {e}"))?;
    let id = query_id();
    let mut query = Message::new(id, MessageType::Query, OpCode::Query);
    query.metadata.recursion_desired = true;
    query.add_query(Query::query(name, rtype));
    let bytes = query
        .to_vec()
        .map_err(|e| format!("building the query: {e}"))?;
    let socket = open(target, deadline).await?;
    deadline
        .run("sending the query", socket.send(&bytes))
        .await?;
    let mut buf = vec![0u8; 4096];
    let mut ignored = 0u32;
    loop {
        let n = match timeout_at(deadline.at, socket.recv(&mut buf)).await {
            Err(_) if ignored > 0 => {
                return Err(format!(
                    "no answer ({ignored} replies ignored: not an answer to the query): {}",
                    deadline.timed_out()
                ))
            }
            Err(_) => return Err(format!("no answer: {}", deadline.timed_out())),
            Ok(Err(e)) => return Err(unreachable(&e)),
            Ok(Ok(n)) => n,
        };
        let reply = match Message::from_vec(&buf[..n]) {
            Ok(m) if m.metadata.id == id && m.metadata.message_type == MessageType::Response => m,
            _ => {
                ignored += 1;
                continue;
            }
        };
        return judge(spec, &reply);
    }
}

fn judge(spec: &DnsSpec, reply: &Message) -> Result<Passed, String> {
    let code = reply.metadata.response_code;
    if code != ResponseCode::NoError {
        return Err(format!("rcode {code}"));
    }
    if spec.require_answer && reply.answers.is_empty() {
        return Err(format!(
            "no answer records for {} {}",
            spec.name, spec.record_type
        ));
    }
    Ok(None)
}

/// A query id that another query in flight is unlikely to share; no
/// security rests on it (the socket is connected to the target).
fn query_id() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u16);
    NEXT.fetch_add(1, Ordering::Relaxed) ^ seed
}
