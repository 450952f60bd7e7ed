//! The object model every part of the API server shares, as `k8s.io/apimachinery` holds it
//! for kube-apiserver: object metadata, API errors rendered as `metav1.Status`, label and
//! field selectors, and the name and metadata validation rules.
//!
//! Nothing here knows the served types, the store or the server: every other module may
//! use it.

pub mod meta;
pub mod selector;
pub mod status;
pub mod validation;
