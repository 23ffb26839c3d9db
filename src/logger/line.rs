//! One log line in either format: `text` (timestamp, level, target, the
//! ids, message) or `json` (one object: `time`, `level`,
//! `target`, `message`, the ids and the record's fields such as `method`,
//! `route`, `status`, `ms`, `client`). Both show only what the call site
//! put into the record, so a line holds no more in JSON than in text.

use log::kv::{Error, Key, Value, VisitSource};
use log::Record;
use serde_json::{Map, Value as Json};

/// How lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// The fields that text lines show too (other fields repeat the message).
const IDS: [&str; 2] = ["request_id", "conn_id"];

/// A line, newline included; `ids` are the thread's (see `context`).
pub(super) fn render(
    format: Format,
    record: &Record,
    time: &str,
    ids: Vec<(&'static str, String)>,
) -> String {
    let target = record.target().trim_start_matches("sse_platform::");
    match format {
        Format::Text => {
            // The ids go before the message: lines still end as they did
            // (an access line with the client address). The record's own
            // id wins over the thread's (a line about another connection
            // names that one). No map: this runs for every request.
            let mut line = format!("{time} {:<5} {target}: ", record.level());
            for key in IDS {
                let own = record.key_values().get(Key::from_str(key));
                let value = match own {
                    Some(v) => Some(v.to_string()),
                    None => ids.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()),
                };
                if let Some(v) = value {
                    line.push_str(&format!("{key}={v} "));
                }
            }
            line.push_str(&format!("{}\n", record.args()));
            line
        }
        Format::Json => {
            let mut fields = Map::new();
            for (key, value) in ids {
                fields.insert(key.to_owned(), Json::String(value));
            }
            // The record's own fields win over the thread's.
            let _ = record.key_values().visit(&mut Collect(&mut fields));
            let mut object = Map::new();
            object.insert("time".into(), time.into());
            object.insert("level".into(), record.level().as_str().into());
            object.insert("target".into(), target.into());
            object.insert("message".into(), record.args().to_string().into());
            object.extend(fields);
            let mut line = Json::Object(object).to_string();
            line.push('\n');
            line
        }
    }
}

/// Copies a record's fields: numbers and booleans as such, the rest as text.
struct Collect<'a>(&'a mut Map<String, Json>);

impl<'kvs> VisitSource<'kvs> for Collect<'_> {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), Error> {
        let json = if let Some(n) = value.to_u64() {
            Json::from(n)
        } else if let Some(n) = value.to_i64() {
            Json::from(n)
        } else if let Some(x) = value.to_f64() {
            Json::from(x)
        } else if let Some(b) = value.to_bool() {
            Json::from(b)
        } else {
            Json::String(value.to_string())
        };
        self.0.insert(key.as_str().to_owned(), json);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(format: Format, ids: Vec<(&'static str, String)>) -> String {
        let record = Record::builder()
            .args(format_args!("GET /me 200 0.4ms 127.0.0.1"))
            .level(log::Level::Info)
            .target("sse_platform::http::respond")
            .key_values(&[("status", 200u64)])
            .build();
        render(format, &record, "2026-12-02T00:00:00.000Z", ids)
    }

    #[test]
    fn text_is_the_old_line_with_the_ids_before_the_message() {
        assert_eq!(
            line(Format::Text, vec![("request_id", "00ff".into())]),
            "2026-12-02T00:00:00.000Z INFO  http::respond: request_id=00ff GET /me 200 0.4ms 127.0.0.1\n"
        );
        assert_eq!(
            line(Format::Text, vec![]),
            "2026-12-02T00:00:00.000Z INFO  http::respond: GET /me 200 0.4ms 127.0.0.1\n"
        );
    }

    #[test]
    fn a_record_s_own_id_wins_over_the_thread_s() {
        let record = Record::builder()
            .args(format_args!("queue full"))
            .level(log::Level::Warn)
            .target("sse_platform::hub::peers")
            .key_values(&[("conn_id", "bbbb")])
            .build();
        let ids = vec![("conn_id", "aaaa".to_owned())];
        let text = render(Format::Text, &record, "T", ids.clone());
        assert_eq!(text, "T WARN  hub::peers: conn_id=bbbb queue full\n");
        let json: Json = serde_json::from_str(&render(Format::Json, &record, "T", ids)).unwrap();
        assert_eq!(json["conn_id"], "bbbb");
    }

    #[test]
    fn json_is_one_object_with_the_fields() {
        let text = line(Format::Json, vec![("request_id", "00ff".into())]);
        assert!(text.ends_with('\n') && !text.trim_end().contains('\n'));
        let v: Json = serde_json::from_str(&text).expect("JSON");
        assert_eq!(v["time"], "2026-12-02T00:00:00.000Z");
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["target"], "http::respond");
        assert_eq!(v["message"], "GET /me 200 0.4ms 127.0.0.1");
        assert_eq!(v["request_id"], "00ff");
        assert_eq!(v["status"], 200);
    }
}
