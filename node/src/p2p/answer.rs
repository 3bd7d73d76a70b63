//! A connection's answering task: the requests its reader queued (headers, blocks, transfers,
//! missing transfers of a compact block), answered in order, each only once the peer has made
//! room for it and the upload limits allow ([`super::send_queue`]). Reading the peer goes on
//! meanwhile, so a peer whose answers wait (it reads slowly, or the node's upload budget is
//! spent) still has what it sends us taken in.

use std::sync::Arc;

use ferrite_core::Hash;
use tokio::sync::mpsc;

use super::compact_conn;
use super::conn::frame;
use super::fsm::Close;
use super::send_queue::{QueueError, SendQueue, Served, Uploads};
use super::wire::Message;
use super::{serve, Shared};

/// Requests queued for the answering task; a peer with more waiting is read no further until
/// it takes answers (an honest peer has a few outstanding at most).
pub const MAX_QUEUED_REQUESTS: usize = 32;

/// Answers the requests from `requests` until the connection ends.
pub async fn answer_loop(
    shared: Arc<Shared>,
    out: SendQueue,
    mut requests: mpsc::Receiver<Message>,
) -> Close {
    let uploads = Uploads::new(shared.uploads.clone());
    let mut served = Served::default();
    while let Some(req) = requests.recv().await {
        let reply = match req {
            Message::GetHeaders { locator, stop } => {
                let view = shared.node.view();
                let hs =
                    tokio::task::spawn_blocking(move || serve::headers(&view, &locator, &stop))
                        .await;
                match hs {
                    Ok(Ok(hs)) => Some(Message::Headers(hs)),
                    _ => return Close::Dropped("cannot read headers".into()),
                }
            }
            Message::GetBlocks(ids) => {
                match serve_blocks(&shared, &out, &uploads, &mut served, ids).await {
                    Ok(missing) => (!missing.is_empty()).then_some(Message::NotFound(missing)),
                    Err(e) => return gone(&shared, e),
                }
            }
            Message::GetTxs(ids) => {
                let txs = serve::txs(&shared.node.mempool(), &ids);
                (!txs.is_empty()).then_some(Message::Txs(txs))
            }
            Message::GetBlockTxs { block, indexes } => match shared.recent_compact.get(&block) {
                Some(b) => match compact_conn::answer_block_txs(&b, &indexes) {
                    Ok(answer) => Some(answer),
                    Err(why) => return Close::Misbehaved(why),
                },
                // Not a block sent lately: nothing to answer (the peer gets it another way).
                None => None,
            },
            _ => None,
        };
        if let Some(m) = reply {
            if let Err(e) = out.answer(frame(&shared, &m), &uploads).await {
                return gone(&shared, e);
            }
        }
    }
    Close::Dropped("closed".into())
}

/// Answers `GetBlocks`: each block read from the store only once the peer has made room for
/// it (so a large request waits for the socket instead of filling memory), a block asked twice
/// in one request served once, and one asked of this connection beyond
/// [`send_queue::MAX_SERVES_PER_BLOCK`] times within [`send_queue::SERVE_WINDOW`] answered
/// `NotFound`. Returns the ids not served.
async fn serve_blocks(
    shared: &Arc<Shared>,
    out: &SendQueue,
    uploads: &Uploads,
    served: &mut Served,
    ids: Vec<Hash>,
) -> Result<Vec<Hash>, QueueError> {
    let mut missing = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for h in ids {
        if !seen.insert(h) {
            continue;
        }
        if !served.allows(&h, std::time::Instant::now()) {
            shared
                .node
                .metrics()
                .defence(crate::metrics::Defence::BlockServedTooOften);
            missing.push(h);
            continue;
        }
        // Room first, the upload limit once the block's size is known. Only a block sent
        // counts against the limit (a `NotFound` while the node lacked it does not).
        out.room_for_answer(0, uploads).await?;
        match read_block(shared, h).await {
            Some(b) => {
                out.answer(frame(shared, &Message::Block(b)), uploads)
                    .await?;
                served.count(h, std::time::Instant::now());
            }
            None => missing.push(h),
        }
    }
    Ok(missing)
}

/// How a connection ends when its queue refuses: counted, and dropped without a ban.
pub(super) fn gone(shared: &Shared, e: QueueError) -> Close {
    if e == QueueError::Stalled {
        shared
            .node
            .metrics()
            .defence(crate::metrics::Defence::AnswerStalled);
    }
    Close::Dropped(e.to_string())
}

async fn read_block(shared: &Arc<Shared>, h: Hash) -> Option<ferrite_core::Block> {
    let view = shared.node.view();
    tokio::task::spawn_blocking(move || serve::block(&view, &h))
        .await
        .ok()
        .flatten()
}
