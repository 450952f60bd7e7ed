//! Object storage, as etcd and `k8s.io/apiserver/pkg/storage` are to kube-apiserver: JSON
//! objects keyed by storage and `namespace/name`, one resourceVersion counter per cluster,
//! and the event log that serves watches, historical reads and the controllers.
//!
//! It knows nothing of types or requests: the write rules live in [`crate::registry`].

pub mod store;
