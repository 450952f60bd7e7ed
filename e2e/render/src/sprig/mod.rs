//! sprig v3's template functions, as Helm registers them (`sprig.TxtFuncMap()` without
//! `env` and `expandenv`), written from sprig's source and compared with it through the
//! oracle (tools/gotmpl-oracle).
//!
//! Each group lives in its own file and registers its functions in [`funcs`].

use crate::FuncMap;

pub(crate) mod cast;
mod conv;
mod crypto;
mod dates;
mod defaults;
mod dicts;
mod encoding;
mod generic;
mod json;
mod lists;
mod math;
mod network;
mod paths;
mod random;
mod reflect;
mod regex;
mod semver;
mod strings;
#[allow(dead_code)] // used as the groups are filled
pub(crate) mod util;

/// sprig's functions as Helm's engine sees them (no `env`, no `expandenv`).
pub fn funcs() -> FuncMap {
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
    dates::register(&mut m);
    semver::register(&mut m);
    crypto::register(&mut m);
    random::register(&mut m);
    network::register(&mut m);
    m
}
