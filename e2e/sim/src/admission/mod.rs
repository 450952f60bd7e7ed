//! Admission: the mutating and validating webhooks every client write passes between the
//! registry's checks and storage, as `k8s.io/apiserver/pkg/admission` and its webhook
//! plugins call them (AdmissionReview v1 over HTTPS).
//!
//! Defaulting and type validation are not here but with the types in [`crate::apis`], as
//! kube-apiserver runs them in each type's strategy rather than as admission plugins.

pub(crate) mod webhook;
