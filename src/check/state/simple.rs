//! The invariants that read no log: O(1) per replica or partition.

use std::collections::BTreeMap;

use crate::sim::NodeId;

use super::super::view::{PartitionView, ReplicaView};
use super::{Claim, EPOCHS_REMEMBERED, Live, Names, PartitionTrack, ReplicaTrack};

type Report<'r> = &'r mut dyn FnMut(String);

fn role(replica: &ReplicaView) -> &'static str {
    if replica.is_leader { "leader" } else { "follower" }
}

/// `single-leader`: at most one leader per partition per leader epoch, across every broker's
/// claim and the controller's choice, across time.
pub(super) fn single_leader(
    epoch_leaders: &mut BTreeMap<u32, Claim>,
    epoch: u32,
    claim: Claim,
    names: &Names,
    report: Report,
) {
    let how = |c: &Claim| if c.by_controller { "the controller's choice" } else { "acting" };
    match epoch_leaders.get(&epoch) {
        Some(first) if first.leader != claim.leader => report(format!(
            "two leaders in epoch {epoch}: {} ({}, seen since {}) and {} ({})",
            names.get(first.leader),
            how(first),
            first.time,
            names.get(claim.leader),
            how(&claim),
        )),
        Some(_) => {}
        None => {
            epoch_leaders.insert(epoch, claim);
            if epoch_leaders.len() > EPOCHS_REMEMBERED {
                epoch_leaders.pop_first();
            }
        }
    }
    assert!(epoch_leaders.len() <= EPOCHS_REMEMBERED);
}

/// `monotonic-epoch`, controller side: the controller's leader epoch and partition epoch of a
/// partition never decrease, ever (its metadata log is durable, so also across restarts).
pub(super) fn controller_epochs(part: &mut PartitionTrack, pv: &PartitionView, report: Report) {
    let (leader, partition) = part.controller_epochs.unwrap_or((0, 0));
    if pv.leader_epoch < leader || pv.partition_epoch < partition {
        report(format!(
            "the controller's epochs went down: leader epoch {leader} -> {}, partition epoch \
             {partition} -> {}",
            pv.leader_epoch, pv.partition_epoch
        ));
    }
    part.controller_epochs = Some((leader.max(pv.leader_epoch), partition.max(pv.partition_epoch)));
}

/// `monotonic-epoch`, broker side: the leader epoch a broker's replica acts in never
/// decreases while the broker stays up (`prev` is `None` when the replica was not seen in
/// the previous call: a restarted broker may start lower until it learns the metadata).
pub(super) fn broker_epoch(
    id: NodeId,
    prev: Option<&ReplicaTrack>,
    replica: &ReplicaView,
    names: &Names,
    report: Report,
) {
    if let Some(prev) = prev
        && replica.leader_epoch < prev.leader_epoch
    {
        report(format!(
            "{}'s leader epoch went down from {} to {} while it stayed up (now {})",
            names.get(id),
            prev.leader_epoch,
            replica.leader_epoch,
            role(replica),
        ));
    }
}

/// `hw-below-leo`: a replica's HW is at most its LEO.
pub(super) fn hw_below_leo(id: NodeId, replica: &ReplicaView, names: &Names, report: Report) {
    if replica.high_watermark > replica.log_end_offset {
        report(format!(
            "{} ({}, epoch {}) has HW {} > LEO {}",
            names.get(id),
            role(replica),
            replica.leader_epoch,
            replica.high_watermark,
            replica.log_end_offset
        ));
    }
}

/// `monotonic-high-watermark`: a leader's HW never decreases within its epoch while it stays
/// up (a new epoch may start lower). Returns the (epoch, HW) to remember.
pub(super) fn monotonic_hw(
    id: NodeId,
    prev: Option<&ReplicaTrack>,
    replica: &ReplicaView,
    names: &Names,
    report: Report,
) -> Option<(u32, u64)> {
    let last = prev.and_then(|p| p.leader_hw);
    if !replica.is_leader {
        return last;
    }
    if let Some((epoch, hw)) = last
        && epoch == replica.leader_epoch
        && replica.high_watermark < hw
    {
        report(format!(
            "leader {}'s HW went down from {hw} to {} in epoch {epoch}",
            names.get(id),
            replica.high_watermark
        ));
    }
    Some((replica.leader_epoch, replica.high_watermark))
}

/// `leader-in-isr`: the controller's leader is in its ISR, or, while the ISR is empty, in its
/// ELR (KIP-966). No leader: nothing to check.
pub(super) fn leader_in_isr(pv: &PartitionView, names: &Names, report: Report) {
    let Some(leader) = pv.leader else { return };
    let ok = pv.isr.contains(&leader) || (pv.isr.is_empty() && pv.elr.contains(&leader));
    if !ok {
        report(format!(
            "the controller's leader {} (leader epoch {}, partition epoch {}) is not in ISR {} \
             (ELR {})",
            names.get(leader),
            pv.leader_epoch,
            pv.partition_epoch,
            names.list(pv.isr),
            names.list(pv.elr)
        ));
    }
}

/// `valid-high-watermark` (AsyncIsr.tla): every live member of the controller's ISR has an
/// LEO at least the true leader's HW. The true leader is the controller's leader, when it is
/// alive and acting as leader; a correct leader computes its HW over `isr ∪ pending_isr`, so
/// the HW holds whether or not its pending ISR change commits. (Deposed leaders' HWs are
/// `strong-isr`'s business.)
pub(super) fn valid_high_watermark(
    part: &PartitionTrack,
    replicas: &[Live],
    names: &Names,
    report: Report,
) {
    let Some(pv) = &part.controller else { return };
    let Some(leader_id) = pv.leader else { return };
    let Some(leader) = replicas.iter().find(|l| l.id == leader_id && l.replica.is_leader) else {
        return;
    };
    let hw = leader.replica.high_watermark;
    for &member in pv.isr.iter().filter(|&&m| m != leader_id) {
        if let Some(m) = replicas.iter().find(|l| l.id == member && !l.recovering)
            && m.replica.log_end_offset < hw
        {
            report(format!(
                "ISR member {} has LEO {} < HW {} of leader {} (epoch {}; ISR {}, leader's \
                 pending ISR {})",
                names.get(member),
                m.replica.log_end_offset,
                hw,
                names.get(leader_id),
                leader.replica.leader_epoch,
                names.list(&pv.isr),
                names.list(leader.replica.pending_isr)
            ));
            return;
        }
    }
}
