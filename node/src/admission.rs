//! Batched admission for HTTP submissions: each `POST /api/tx` queues its transfer here, and
//! one thread takes whatever is waiting (up to [`ADMISSION_BATCH`]), hands it to
//! `Node::submit_txs` (signatures verified together, one hold of the pool lock) and answers
//! each caller. Under load that replaces one thread hand-off and one single verification per
//! request with one of each per batch; an idle node answers a lone transfer at once.

use std::sync::Arc;

use ferrite_core::{Hash, SignedTransaction};
use tokio::sync::{mpsc, oneshot};

use crate::node::{Node, SubmitTxError};

/// Most transfers verified and admitted together: the batch verifier's gain levels off near
/// here, and a caller never waits behind more than one such batch.
pub const ADMISSION_BATCH: usize = 256;
/// Transfers waiting at most; beyond it callers wait for room (the HTTP timeout bounds that).
pub const ADMISSION_QUEUE: usize = 4096;

type Reply = oneshot::Sender<Result<Hash, SubmitTxError>>;

/// Why a queued submission got no verdict.
#[derive(Debug, thiserror::Error)]
pub enum AdmissionError {
    /// The admission thread has stopped (the node is shutting down).
    #[error("the node is not admitting transfers (shutting down)")]
    Stopped,
}

/// The queue in front of the admission thread.
pub struct Admission {
    queue: mpsc::Sender<(SignedTransaction, Reply)>,
}

impl Admission {
    /// Starts the admission thread for `node`. The thread holds the node only while it admits
    /// a batch, so it never keeps the store open after the node is dropped (a store closed at
    /// process exit, after RocksDB's statics, aborts).
    pub fn start(node: Arc<Node>) -> std::io::Result<Admission> {
        let (queue, mut rx) = mpsc::channel::<(SignedTransaction, Reply)>(ADMISSION_QUEUE);
        let node = Arc::downgrade(&node);
        std::thread::Builder::new()
            .name("admission".into())
            .spawn(move || {
                while let Some(first) = rx.blocking_recv() {
                    let Some(node) = node.upgrade() else {
                        break;
                    };
                    let mut batch = vec![first];
                    while batch.len() < ADMISSION_BATCH {
                        match rx.try_recv() {
                            Ok(next) => batch.push(next),
                            Err(_) => break,
                        }
                    }
                    let (txs, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
                    for (result, reply) in node.submit_txs(txs).into_iter().zip(replies) {
                        // A caller that gave up (timeout, closed connection) is not an error.
                        let _ = reply.send(result);
                    }
                }
            })?;
        Ok(Admission { queue })
    }

    /// Queues `tx` and waits for its verdict.
    pub async fn submit(
        &self,
        tx: SignedTransaction,
    ) -> Result<Result<Hash, SubmitTxError>, AdmissionError> {
        let (reply, verdict) = oneshot::channel();
        self.queue
            .send((tx, reply))
            .await
            .map_err(|_| AdmissionError::Stopped)?;
        verdict.await.map_err(|_| AdmissionError::Stopped)
    }
}
