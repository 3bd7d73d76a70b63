//! The net effect of a run of connects and disconnects, reported to the mempool and to
//! subscribers as one [`TipChange`].

use std::collections::HashMap;

use std::sync::Arc;

use ferrite_core::{Address, BodyChecked, Hash, SignedTransaction};

use super::TipChange;

/// Connects and disconnects in the order they happened, reduced to the net change: a block
/// connected and then disconnected again (a failed branch switch) counts as neither.
#[derive(Default)]
pub(super) struct ChangeLog {
    /// +1 for a block that is now on the chain and was not, -1 for the reverse.
    net: HashMap<Hash, i8>,
    order: Vec<Hash>,
    mined: HashMap<Hash, Vec<Hash>>,
    senders: HashMap<Hash, Vec<Address>>,
    returned: HashMap<Hash, Vec<SignedTransaction>>,
    touched: Vec<Address>,
    /// The block connected last, in case it is the new tip (compact relay sends it on).
    last_connected: Option<Arc<BodyChecked>>,
}

impl ChangeLog {
    pub(super) fn connected(
        &mut self,
        body: Arc<BodyChecked>,
        tx_ids: Vec<Hash>,
        senders: Vec<Address>,
    ) {
        let h = body.hash();
        self.last_connected = Some(body);
        self.bump(h, 1);
        self.mined.insert(h, tx_ids);
        self.senders.insert(h, senders);
    }

    pub(super) fn disconnected(
        &mut self,
        h: Hash,
        txs: Vec<SignedTransaction>,
        touched: Vec<Address>,
    ) {
        self.bump(h, -1);
        self.returned.insert(h, txs);
        self.touched.extend(touched);
    }

    fn bump(&mut self, h: Hash, d: i8) {
        let v = self.net.entry(h).or_insert(0);
        *v += d;
        if *v == 0 {
            self.net.remove(&h);
        } else {
            self.order.push(h);
        }
    }

    pub(super) fn finish(mut self) -> Option<TipChange> {
        let mut change = TipChange::default();
        let mut seen = std::collections::HashSet::new();
        for h in &self.order {
            if !seen.insert(*h) {
                continue;
            }
            match self.net.get(h) {
                Some(1) => {
                    change.connected.push(*h);
                    change
                        .mined_txs
                        .extend(self.mined.remove(h).unwrap_or_default());
                    change
                        .senders_of_connected
                        .extend(self.senders.remove(h).unwrap_or_default());
                }
                Some(-1) => {
                    change.disconnected.push(*h);
                    change
                        .returned_txs
                        .extend(self.returned.remove(h).unwrap_or_default());
                }
                _ => {}
            }
        }
        if change.connected.is_empty() && change.disconnected.is_empty() {
            return None;
        }
        let mined: std::collections::HashSet<Hash> = change.mined_txs.iter().copied().collect();
        change.returned_txs.retain(|t| !mined.contains(&t.id()));
        self.touched.sort_unstable();
        self.touched.dedup();
        change.senders_of_connected.sort_unstable();
        change.senders_of_connected.dedup();
        change.touched_by_disconnect = self.touched;
        change.tip_block = self
            .last_connected
            .filter(|b| change.connected.last() == Some(&b.hash()));
        Some(change)
    }
}
