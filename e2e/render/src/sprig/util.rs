//! What several sprig groups share: sprig's own `strval` and `strslice`.

use crate::gofmt;
use crate::value::{Arg, Value};

/// sprig's `strval`: a string as is, anything else as fmt's `%v` (a Stringer's
/// `String()`).
pub(crate) fn strval(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        v => gofmt::format_v(v),
    }
}

/// sprig's `strslice`: the elements of a slice as strings (nil elements dropped), or a
/// one-element list of `strval(v)`; nil gives an empty list.
pub(crate) fn strslice(v: &Value) -> Vec<String> {
    match v {
        Value::Slice(items) => items
            .iter()
            .filter(|e| !matches!(e, Value::Nil))
            .map(strval)
            .collect(),
        Value::Nil => Vec::new(),
        v => vec![strval(v)],
    }
}

/// An argument's value (`Nil` for a missing one).
pub(crate) fn val(a: &Arg) -> Value {
    a.value()
}
