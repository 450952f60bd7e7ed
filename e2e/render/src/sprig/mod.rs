//! sprig v3's template functions, as Helm registers them (`sprig.TxtFuncMap()` without
//! `env` and `expandenv`), written from sprig's source and compared with it through the
//! oracle (tools/gotmpl-oracle).
//!
//! Each group lives in its own file and registers its functions in [`funcs`].

use crate::FuncMap;

pub(crate) mod cast;
mod conv;
mod crypto;
pub mod dates;
mod defaults;
mod dicts;
mod encoding;
mod generic;
mod gotime;
mod gouni;
mod json;
mod lists;
mod math;
mod network;
mod paths;
mod random;
mod reflect;
mod regex;
pub(crate) mod semver;
mod strings;
pub(crate) mod util;

pub use dates::Clock;

/// sprig's functions as Helm's engine sees them (no `env`, no `expandenv`), with the
/// system clock and local zone.
pub fn funcs() -> FuncMap {
    funcs_with(&Clock::system())
}

/// sprig's functions with `clock` as the time source and `time.Local` (for tests that fix
/// the time).
pub fn funcs_with(clock: &Clock) -> FuncMap {
    let mut m = FuncMap::new();
    strings::register(&mut m);
    regex::register(&mut m);
    encoding::register(&mut m);
    paths::register(&mut m);
    reflect::register(&mut m);
    conv::register(&mut m);
    math::register(&mut m);
    defaults::register(&mut m);
    lists::register(&mut m);
    dicts::register(&mut m);
    json::register(&mut m);
    dates::register(&mut m, clock);
    semver::register(&mut m);
    crypto::register(&mut m);
    random::register(&mut m);
    network::register(&mut m);
    m
}
