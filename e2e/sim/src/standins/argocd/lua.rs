//! Custom Lua health checks run as Argo CD 3.2 runs them (util/lua/lua.go `runLua` and
//! `ExecuteHealthLua`, on gopher-lua, a Lua 5.1 VM; here PUC Lua 5.1 through mlua):
//! - a fresh VM per run with the base, package and table libraries and a "safe" `os` holding
//!   only `time` and `date` (also what `require("os")` returns); with `useOpenLibs` every
//!   standard library as well, and the whole `os`;
//! - the global `obj` is the live object converted as Argo CD's `decodeValue` converts it:
//!   objects and arrays become tables (nulls inside arrays are skipped, `Append` drops them;
//!   null fields are absent), numbers become Lua numbers; `actionParams` is an empty table;
//! - the run stops after one second with `<string>:<line>: context deadline exceeded` (the
//!   context Argo CD gives the VM);
//! - the last value the chunk returns is the result: nil gives an empty health, a table is
//!   encoded to JSON as gopher-json encodes it and decoded into `{status, message}` as Go's
//!   encoding/json does, anything else is `expect table output from Lua script, not <type>`;
//! - errors are the VM's message without a stack trace.
//!
//! Known differences from gopher-lua, both VMs being Lua 5.1: the texts of the VM's own
//! runtime and syntax errors are PUC Lua's (`attempt to index field 'x' (a nil value)` where
//! gopher-lua says `attempt to index a non-table object(nil) with key 'x'`); the position
//! prefix `<string>:<line>:` is the same. With open libraries the `debug` and `channel`
//! libraries are absent and `os.exit` raises an error instead of ending the process hosting
//! every simulated cluster. Memory is capped (gopher-lua has no cap).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use mlua::{HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, VmState};
use serde_json::{Map, Number, Value};

/// The deadline Argo CD's context puts on one run.
pub const TIMEOUT: Duration = Duration::from_secs(1);
/// Memory one run may use.
const MEMORY_LIMIT: usize = 256 << 20;
/// gopher-lua's name for a chunk run with DoString.
const CHUNK: &str = "=<string>";

/// A health a script returned, before its status is checked against Argo CD's codes: an
/// empty status is what Argo CD keeps for a nil result or a table that does not decode.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LuaHealth {
    pub status: String,
    pub message: String,
    /// Whether the status went through Argo CD's validity check (a decoded table did; an
    /// empty health returned for nil or for a decoding type error did not).
    pub checked: bool,
}

/// Runs a health script on `obj`. Err holds the error text Argo CD reports.
pub fn run_health(obj: &Value, script: &str, use_open_libs: bool) -> Result<LuaHealth, String> {
    let lua = vm(use_open_libs).map_err(|e| error_text(&e))?;
    let started = Instant::now();
    lua.set_hook(
        HookTriggers::new().every_nth_instruction(1000),
        move |_, debug| {
            if started.elapsed() >= TIMEOUT {
                let line = debug.current_line().unwrap_or(0);
                return Err(mlua::Error::RuntimeError(format!(
                    "<string>:{line}: context deadline exceeded"
                )));
            }
            Ok(VmState::Continue)
        },
    )
    .map_err(|e| error_text(&e))?;
    let globals = lua.globals();
    let set = || -> mlua::Result<()> {
        globals.set("actionParams", lua.create_table()?)?;
        globals.set("obj", to_lua(&lua, obj)?)?;
        Ok(())
    };
    set().map_err(|e| error_text(&e))?;
    let returned: MultiValue = lua
        .load(script)
        .set_name(CHUNK)
        .call(())
        .map_err(|e| error_text(&e))?;
    let last = returned.into_iter().last().unwrap_or(mlua::Value::Nil);
    match last {
        mlua::Value::Nil => Ok(LuaHealth::default()),
        mlua::Value::Table(_) => {
            let json = encode(&last)?;
            Ok(decode_health(&json))
        }
        other => Err(format!(
            "expect table output from Lua script, not {}",
            type_name(&other)
        )),
    }
}

/// A VM with the libraries Argo CD opens.
fn vm(use_open_libs: bool) -> mlua::Result<Lua> {
    let mut libs = StdLib::TABLE | StdLib::PACKAGE | StdLib::OS;
    if use_open_libs {
        libs |= StdLib::STRING | StdLib::MATH | StdLib::IO;
    }
    let lua = Lua::new_with(libs, LuaOptions::new())?;
    lua.set_memory_limit(MEMORY_LIMIT)?;
    let globals = lua.globals();
    let os: Table = globals.get("os")?;
    if use_open_libs {
        os.set(
            "exit",
            lua.create_function(|_, ()| -> mlua::Result<()> {
                Err(mlua::Error::RuntimeError(
                    "os.exit is not available in the sim's Lua health checks".into(),
                ))
            })?,
        )?;
    } else {
        // gopher-lua's base library has no coroutine table (Lua 5.1's has)
        globals.raw_remove("coroutine")?;
        let safe = lua.create_table()?;
        for f in ["time", "date"] {
            safe.set(f, os.get::<mlua::Function>(f)?)?;
        }
        globals.set("os", &safe)?;
        let loaded: Table = globals.get::<Table>("package")?.get("loaded")?;
        loaded.set("os", safe)?;
    }
    Ok(lua)
}

/// The text Argo CD shows for an error: the error value without a stack trace.
fn error_text(e: &mlua::Error) -> String {
    let text = match e {
        mlua::Error::RuntimeError(m) | mlua::Error::MemoryError(m) => m.clone(),
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::CallbackError { cause, .. } => return error_text(cause),
        other => other.to_string(),
    };
    match text.find("\nstack traceback:") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// gopher-lua's type names.
fn type_name(v: &mlua::Value) -> &'static str {
    match v {
        mlua::Value::Nil => "nil",
        mlua::Value::Boolean(_) => "boolean",
        mlua::Value::Integer(_) | mlua::Value::Number(_) => "number",
        mlua::Value::String(_) => "string",
        mlua::Value::Table(_) => "table",
        mlua::Value::Function(_) => "function",
        mlua::Value::Thread(_) => "thread",
        _ => "userdata",
    }
}

/// The object as Argo CD's decodeValue hands it to the script.
pub fn to_lua(lua: &Lua, v: &Value) -> mlua::Result<mlua::Value> {
    Ok(match v {
        Value::Null => mlua::Value::Nil,
        Value::Bool(b) => mlua::Value::Boolean(*b),
        Value::Number(n) => mlua::Value::Number(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => mlua::Value::String(lua.create_string(s)?),
        Value::Array(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            let mut n = 0;
            for item in items.iter().filter(|i| !i.is_null()) {
                n += 1;
                t.raw_set(n, to_lua(lua, item)?)?;
            }
            mlua::Value::Table(t)
        }
        Value::Object(fields) => {
            let t = lua.create_table_with_capacity(0, fields.len())?;
            for (k, item) in fields {
                if !item.is_null() {
                    t.raw_set(k.as_str(), to_lua(lua, item)?)?;
                }
            }
            mlua::Value::Table(t)
        }
    })
}

/// gopher-json's Encode: JSON of a Lua value, or the error text Go's json.Marshal gives
/// (each jsonValue level the failure sits below wraps it once more).
pub fn encode(v: &mlua::Value) -> Result<Value, String> {
    let mut visited = HashSet::new();
    encode_at(v, 0, &mut visited).map_err(|(depth, msg)| {
        "json: error calling MarshalJSON for type json.jsonValue: ".repeat(depth + 1) + &msg
    })
}

type EncodeError = (usize, String);

fn encode_at(v: &mlua::Value, depth: usize, visited: &mut HashSet<usize>) -> Result<Value, EncodeError> {
    let fail = |m: &str| Err((depth, m.to_string()));
    match v {
        mlua::Value::Nil => Ok(Value::Null),
        mlua::Value::Boolean(b) => Ok(Value::Bool(*b)),
        mlua::Value::Integer(i) => Ok(Value::from(*i)),
        mlua::Value::Number(f) => match Number::from_f64(*f) {
            Some(n) => Ok(Value::Number(n)),
            None => fail(&format!("json: unsupported value: {}", go_float(*f))),
        },
        mlua::Value::String(s) => Ok(Value::String(s.to_string_lossy().to_string())),
        mlua::Value::Table(t) => {
            // the visited set is never cleared: a table met twice fails as a cycle does
            if !visited.insert(t.to_pointer() as usize) {
                return fail("cannot encode recursively nested tables to JSON");
            }
            let mut pairs = Vec::new();
            for pair in t.clone().pairs::<mlua::Value, mlua::Value>() {
                match pair {
                    Ok(p) => pairs.push(p),
                    Err(e) => return fail(&error_text(&e)),
                }
            }
            let Some((first, _)) = pairs.first() else {
                return Ok(Value::Array(Vec::new()));
            };
            match first {
                mlua::Value::Integer(_) | mlua::Value::Number(_) => {
                    let mut out = Vec::new();
                    let mut expected = 1.0;
                    for (k, _) in &pairs {
                        let n = match k {
                            mlua::Value::Integer(i) => *i as f64,
                            mlua::Value::Number(f) => *f,
                            _ => return fail("cannot encode mixed or invalid key types"),
                        };
                        if n != expected {
                            return fail("cannot encode sparse array");
                        }
                        expected += 1.0;
                    }
                    for (_, item) in &pairs {
                        out.push(encode_at(item, depth + 1, visited)?);
                    }
                    Ok(Value::Array(out))
                }
                mlua::Value::String(_) => {
                    let mut keyed = Vec::new();
                    for (k, item) in &pairs {
                        let mlua::Value::String(s) = k else {
                            return fail("cannot encode mixed or invalid key types");
                        };
                        keyed.push((s.to_string_lossy().to_string(), item));
                    }
                    // json.Marshal writes a map in key order
                    keyed.sort_by(|a, b| a.0.cmp(&b.0));
                    let mut out = Map::new();
                    for (k, item) in keyed {
                        out.insert(k, encode_at(item, depth + 1, visited)?);
                    }
                    Ok(Value::Object(out))
                }
                _ => fail("cannot encode mixed or invalid key types"),
            }
        }
        other => fail(&format!("cannot encode {} to JSON", type_name(other))),
    }
}

/// strconv.FormatFloat(f, 'g', -1, 64) for the values JSON cannot hold.
fn go_float(f: f64) -> &'static str {
    if f.is_nan() {
        "NaN"
    } else if f > 0.0 {
        "+Inf"
    } else {
        "-Inf"
    }
}

/// Go's json.Unmarshal into gitops-engine's HealthStatus, then Argo CD's handling: a type
/// error (an array, a non-string status or message) gives an empty health; fields match
/// case-insensitively, later keys (in key order) winning.
pub fn decode_health(json: &Value) -> LuaHealth {
    let Value::Object(fields) = json else {
        return LuaHealth::default();
    };
    let mut out = LuaHealth {
        checked: true,
        ..LuaHealth::default()
    };
    let mut keys: Vec<&String> = fields.keys().collect();
    keys.sort();
    for k in keys {
        let slot = match fold(k).as_str() {
            "status" => &mut out.status,
            "message" => &mut out.message,
            _ => continue,
        };
        match &fields[k] {
            Value::String(s) => *slot = s.clone(),
            Value::Null => {}
            _ => return LuaHealth::default(),
        }
    }
    out
}

/// encoding/json's case folding of field names (ASCII, plus the Kelvin sign and long s,
/// which fold to k and s).
fn fold(k: &str) -> String {
    k.chars()
        .map(|c| match c {
            '\u{212A}' => 'k',
            '\u{017F}' => 's',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(script: &str) -> Result<LuaHealth, String> {
        run_health(&json!({"kind": "Thing"}), script, false)
    }

    fn ok(status: &str, message: &str) -> Result<LuaHealth, String> {
        Ok(LuaHealth {
            status: status.into(),
            message: message.into(),
            checked: true,
        })
    }

    #[test]
    fn status_and_message_come_back() {
        let obj = json!({"status": {"phase": "Failed", "reason": "disk full"}});
        let script = r#"
            hs = {}
            if obj.status.phase == "Failed" then
              hs.status = "Degraded"
              hs.message = "phase " .. obj.status.phase .. ": " .. obj.status.reason
            end
            return hs"#;
        assert_eq!(
            run_health(&obj, script, false),
            ok("Degraded", "phase Failed: disk full")
        );
    }

    #[test]
    fn results_that_are_not_health_tables() {
        // nil: an empty health, no error
        assert_eq!(run("return nil"), Ok(LuaHealth::default()));
        assert_eq!(run("local x = 1"), Ok(LuaHealth::default()));
        // the last returned value counts
        assert_eq!(
            run(r#"return {status="Healthy"}, 5"#),
            Err("expect table output from Lua script, not number".into())
        );
        assert_eq!(run(r#"return 5, {status="Healthy"}"#), ok("Healthy", ""));
        assert_eq!(
            run(r#"return "Healthy""#),
            Err("expect table output from Lua script, not string".into())
        );
        assert_eq!(
            run("return true"),
            Err("expect table output from Lua script, not boolean".into())
        );
        assert_eq!(
            run("return print"),
            Err("expect table output from Lua script, not function".into())
        );
        // {} encodes as [], which does not decode into a health
        assert_eq!(run("return {}"), Ok(LuaHealth::default()));
        assert_eq!(run(r#"return {"Healthy"}"#), Ok(LuaHealth::default()));
        // a status of the wrong type: json's UnmarshalTypeError, so an empty health
        assert_eq!(run("return {status=1}"), Ok(LuaHealth::default()));
        assert_eq!(
            run(r#"return {status="Healthy", message=false}"#),
            Ok(LuaHealth::default())
        );
        // no status at all decodes and is checked (the caller makes it Unknown)
        assert_eq!(run(r#"return {message="hi"}"#), ok("", "hi"));
        // field names match as encoding/json matches them
        assert_eq!(
            run(r#"return {Status="Healthy", MESSAGE="m"}"#),
            ok("Healthy", "m")
        );
        assert_eq!(
            run(r#"return {status="Healthy", extra={1,2}}"#),
            ok("Healthy", "")
        );
    }

    #[test]
    fn encoding_errors_are_gopher_jsons() {
        let p = "json: error calling MarshalJSON for type json.jsonValue: ";
        assert_eq!(
            run(r#"return {status="Healthy", f=print}"#),
            Err(format!("{p}{p}cannot encode function to JSON"))
        );
        assert_eq!(
            run(r#"local t = {status="Healthy"}; t.self = t; return t"#),
            Err(format!("{p}{p}cannot encode recursively nested tables to JSON"))
        );
        assert_eq!(
            run(r#"return {status="Healthy", [1]="x"}"#),
            Err(format!("{p}cannot encode mixed or invalid key types"))
        );
        assert_eq!(
            run(r#"return {status="Healthy", a={[1]="x", [3]="y"}}"#),
            Err(format!("{p}{p}cannot encode sparse array"))
        );
        assert_eq!(
            run(r#"return {status="Healthy", n=0/0}"#),
            Err(format!("{p}{p}json: unsupported value: NaN"))
        );
    }

    #[test]
    fn errors_carry_the_position_and_no_stack_trace() {
        assert_eq!(run("\nerror(\"boom\")"), Err("<string>:2: boom".into()));
        assert_eq!(run("error(\"plain\", 0)"), Err("plain".into()));
        let e = run("return obj.status.phase").unwrap_err();
        assert!(e.starts_with("<string>:1: attempt to index"), "{e}");
        assert!(!e.contains("traceback"), "{e}");
        let e = run("return {status=").unwrap_err();
        assert!(e.starts_with("<string>:1:"), "{e}");
    }

    #[test]
    fn the_object_is_converted_as_argo_cds_decode_value() {
        let obj = json!({"a": [1, null, "x", {"b": null, "c": true}], "n": 2.5, "z": null, "big": 3});
        let script = r#"
            return {status = "Healthy", message = table.concat({
              #obj.a, tostring(obj.a[2]), type(obj.a[3]), tostring(obj.a[3].b), tostring(obj.a[3].c),
              tostring(obj.n), tostring(obj.z), tostring(obj.big), type(actionParams)}, ",")}"#;
        assert_eq!(
            run_health(&obj, script, false),
            ok("Healthy", "3,x,table,nil,true,2.5,nil,3,table")
        );
    }

    #[test]
    fn open_libraries_only_when_asked() {
        let probe = r#"return {status="Healthy", message=table.concat({type(string), type(math), type(io),
            type(os), type(os.time), type(os.getenv), type(require("os").date), type(coroutine)}, " ")}"#;
        assert_eq!(
            run_health(&json!({}), probe, false),
            ok("Healthy", "nil nil nil table function nil function nil")
        );
        assert_eq!(
            run_health(&json!({}), probe, true),
            ok(
                "Healthy",
                "table table table table function function function table"
            )
        );
        // string methods need the string library
        let upper = r#"return {status="Healthy", message=("x"):upper()}"#;
        assert!(run_health(&json!({}), upper, false).is_err());
        assert_eq!(run_health(&json!({}), upper, true), ok("Healthy", "X"));
        let exit = run_health(&json!({}), "os.exit(1)", true).unwrap_err();
        assert!(exit.contains("os.exit is not available"), "{exit}");
    }

    #[test]
    fn a_script_that_never_ends_is_stopped() {
        let started = Instant::now();
        let e = run("local i = 0\nwhile true do\n  i = i + 1\nend").unwrap_err();
        assert!(started.elapsed() < TIMEOUT * 3, "{:?}", started.elapsed());
        assert!(e.ends_with(": context deadline exceeded"), "{e}");
        assert!(e.starts_with("<string>:"), "{e}");
    }

    #[test]
    fn runaway_memory_is_an_error() {
        let e = run_health(&json!({}), r#"local s = "x" while true do s = s .. s end"#, true).unwrap_err();
        assert!(e.contains("memory"), "{e}");
    }

    /// A small deterministic generator: arbitrary JSON objects go through the conversion and
    /// back without panics.
    #[test]
    fn arbitrary_objects_convert_without_panics() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        fn arbitrary(next: &mut dyn FnMut() -> u64, depth: u32) -> Value {
            match next() % if depth > 4 { 5 } else { 7 } {
                0 => Value::Null,
                1 => Value::Bool(next().is_multiple_of(2)),
                2 => json!((next() % 2000) as f64 / 7.0 - 100.0),
                3 => json!(i64::MAX - (next() % 3) as i64),
                4 => {
                    let bytes: Vec<u8> = (0..next() % 6).map(|_| (next() % 256) as u8).collect();
                    Value::String(String::from_utf8_lossy(&bytes).into_owned())
                }
                5 => Value::Array((0..next() % 5).map(|_| arbitrary(next, depth + 1)).collect()),
                _ => Value::Object(
                    (0..next() % 5)
                        .map(|i| (format!("k{i}{}", next() % 3), arbitrary(next, depth + 1)))
                        .collect(),
                ),
            }
        }
        let script = r#"
            local function walk(v, n)
              if type(v) == "table" then for k, x in pairs(v) do n = walk(x, n + 1) end end
              return n
            end
            return {status="Healthy", message=tostring(walk(obj, 0)), copy=obj}"#;
        for _ in 0..300 {
            let obj = arbitrary(&mut next, 0);
            let r = run_health(&obj, script, false);
            assert_eq!(r.map(|h| h.status), Ok("Healthy".to_string()), "{obj}");
        }
    }
}
