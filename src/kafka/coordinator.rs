//! The group coordinator's state machine (Kafka's `GroupCoordinator` /
//! `GroupMetadataManager`), sans IO: STUB, filled in by the groups work.
