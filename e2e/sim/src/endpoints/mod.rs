//! Resource endpoints, as `k8s.io/apiserver/pkg/endpoints` serves them: the [`request`]
//! info of a URL and the [`handlers`] of the verbs on resource URLs. They decode and answer
//! through [`crate::encoding`] and write through [`crate::registry`].

pub(crate) mod handlers;
pub(crate) mod request;
