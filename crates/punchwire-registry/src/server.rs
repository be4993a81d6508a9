//! The TCP side: hickory-server reads requests and writes responses; this handler turns each
//! request into a question for `answer`, checks who is asking, and sizes the response. (UDP
//! is served by `udp` and `respond`, which answer the same way without hickory-server.)

use std::net::IpAddr;
use std::sync::Arc;

use hickory_server::net::runtime::Time;
use hickory_server::proto::op::{Edns, Header, HeaderCounts, Metadata, OpCode, ResponseCode};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use tracing::warn;

use crate::answer::Answer;
use crate::fit::fit;
use crate::live::Live;
use crate::respond::{admits, answer_from, MAX_UDP_PAYLOAD};
use crate::stats::Counters;

/// A message over TCP holds at most 65,535 bytes (its length prefix is 16 bits).
const TCP_LIMIT: usize = u16::MAX as usize;

/// Answers the TCP queries arriving on one listening address.
pub(crate) struct Handler {
    pub live: Arc<Live>,
    /// The address this handler's sockets are bound to: the "address the query arrived
    /// on" of the registry's own record.
    pub arrival: IpAddr,
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response: R,
    ) -> ResponseInfo {
        let counters = &self.live.counters;
        Counters::bump(&counters.queries);
        let (snapshot, fresh) = self.live.current();

        let mut edns = Edns::new();
        edns.set_max_payload(MAX_UDP_PAYLOAD);
        let edns = request.edns.as_ref().map(|_| &edns);
        let source = request.src().ip();
        let decided = if !admits(&snapshot, source) {
            Answer::refused()
        } else if request.metadata.op_code != OpCode::Query {
            Answer::with_rcode(ResponseCode::NotImp)
        } else if request.queries.len() != 1 {
            Answer::with_rcode(ResponseCode::FormErr)
        } else if !fresh {
            Answer::server_failure()
        } else {
            let query = &request.queries.queries()[0];
            answer_from(
                &snapshot,
                source,
                query.name(),
                query.query_type(),
                query.query_class(),
                self.arrival,
            )
        };

        counters.count(decided.rcode);

        let fits = fit(
            &decided,
            request.queries.as_bytes(),
            edns.is_some(),
            TCP_LIMIT,
        );
        if fits.truncated {
            Counters::bump(&counters.truncated);
        }
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.response_code = decided.rcode;
        metadata.authoritative = decided.authoritative;
        metadata.truncation = fits.truncated;

        let message = MessageResponseBuilder::new(&request.queries, edns).build(
            metadata,
            decided.answers.iter().take(fits.answers).map(|r| &r.record),
            decided
                .authority
                .iter()
                .take(fits.authority)
                .map(|r| &r.record),
            std::iter::empty(),
            decided
                .additional
                .iter()
                .flatten()
                .take(fits.additional)
                .map(|r| &r.record),
        );
        match response.send_response(message).await {
            Ok(info) => info,
            Err(error) => {
                warn!(%source, %error, "could not send a response");
                failed(&request.metadata)
            }
        }
    }
}

fn failed(request: &Metadata) -> ResponseInfo {
    let mut metadata = Metadata::response_from_request(request);
    metadata.response_code = ResponseCode::ServFail;
    ResponseInfo::from(Header {
        metadata,
        counts: HeaderCounts::default(),
    })
}
