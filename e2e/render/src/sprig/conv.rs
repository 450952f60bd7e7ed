//! sprig's conv functions.

use crate::FuncMap;

pub(super) fn register(_m: &mut FuncMap) {}
