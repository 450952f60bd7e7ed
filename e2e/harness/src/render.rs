//! `hubspoke render template`: a plain Go template rendered by hubspoke-render, printed as
//! Go's text/template prints it, so the engine can be compared from outside.

use std::path::Path;

use hubspoke_render::{MissingKey, Options, Template, Value};

/// What `render template` printed and how it ends.
#[derive(Debug, PartialEq, Eq)]
pub enum Rendered {
    Output(String),
    /// Go's error text (parse or execution); the command prints `ERROR: <text>`, exit 3.
    GoError(String),
}

/// Renders `file` with the JSON in `data` as dot (numbers are float64, as encoding/json
/// decodes them). With `sprig`, sprig's functions are registered as Helm registers them.
pub fn render_template(file: &Path, data: &Path, missingkey: &str, sprig: bool) -> Result<Rendered, crate::Error> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| crate::Error::input(format!("{}: cannot read the template: {e}", file.display())))?;
    let raw = std::fs::read_to_string(data)
        .map_err(|e| crate::Error::input(format!("{}: cannot read the data: {e}", data.display())))?;
    let json: serde_json::Value = serde_json::from_str(&raw).map_err(|e| {
        crate::Error::input(format!("{}: not JSON ({e}); the data must be a JSON document", data.display()))
    })?;
    let Some(missing_key) = MissingKey::parse(missingkey) else {
        return Err(crate::Error::input(format!(
            "--missingkey={missingkey}: expected default, invalid, zero or error"
        )));
    };
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut t = Template::new(&name);
    if sprig {
        t = t.funcs(hubspoke_render::sprig::funcs());
    }
    if let Err(e) = t.add_parse(&name, &text) {
        return Ok(Rendered::GoError(e.to_string()));
    }
    match t.execute(&Value::from(json), &Options { missing_key }) {
        Ok(out) => Ok(Rendered::Output(out)),
        Err(e) => Ok(Rendered::GoError(e.to_string())),
    }
}
