//! The broker's part of consumer groups: it hosts the group coordinator of every
//! `__consumer_offsets` partition it leads, routes group requests to it, appends its
//! records and completes them when the partition's HW passes them.

use crate::sim::node::NodeId;

use super::super::protocol::{Msg, TopicPartition};
use super::{Broker, Ctx};

/// STUB.
#[derive(Clone, Debug, Default)]
pub struct GroupHost {}

impl Broker {
    pub(super) fn start_group_coordinator(&mut self, ctx: &mut Ctx<'_>) {
        let _ = (&self.groups, ctx);
    }

    pub(super) fn group_coordinator_tick(&mut self, ctx: &mut Ctx<'_>) {
        let _ = ctx;
    }

    pub(super) fn handle_group_request(&mut self, ctx: &mut Ctx<'_>, from: NodeId, msg: Msg) {
        let _ = (ctx, from, msg);
    }

    pub(super) fn coordinator_leadership_changed(
        &mut self,
        ctx: &mut Ctx<'_>,
        tp: &TopicPartition,
    ) {
        let _ = (ctx, tp);
    }

    pub(super) fn coordinator_high_watermark_moved(
        &mut self,
        ctx: &mut Ctx<'_>,
        tp: &TopicPartition,
    ) {
        let _ = (ctx, tp);
    }
}
