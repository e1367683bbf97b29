//! The `prometheus` probe: one instant query (`/api/v1/query`) against the Prometheus the
//! cluster admin configured. DeploymentReadiness objects supply only the PromQL, never an address.

use std::time::Duration;

use reqwest::{Client, Url};
use serde::Deserialize;
use serde_json::Value as Json;

use super::http::shorten;
use crate::engine::ProbeOutcome;

/// The most of an answer read; a query returning that much is not a one-sample query.
const MAX_ANSWER: usize = 1024 * 1024;

/// The client for Prometheus: no redirects, no proxies from the environment, system roots.
pub fn client() -> reqwest::Result<Client> {
    Client::builder()
        .use_rustls_tls()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("gonogo/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Parse `--prometheus-url`: http or https, no query or fragment (a path prefix is fine).
pub fn parse_url(text: &str) -> Result<Url, String> {
    let mut url = Url::parse(text.trim()).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "{text:?}: the Prometheus address must be an http or https URL"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{text:?}: the Prometheus address takes no query or fragment"
        ));
    }
    // A base without a trailing slash would lose its last path segment in `join`.
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    error_type: Option<String>,
    // `error` is not read: its text can quote series and their labels.
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    result_type: String,
    result: Json,
}

/// Run one instant query; the answer is reduced to one value (or why there is none).
pub async fn query_once(
    client: &Client,
    base: &Url,
    query: &str,
    timeout: Duration,
) -> ProbeOutcome {
    let url = match base.join("api/v1/query") {
        Ok(url) => url,
        Err(e) => return ProbeOutcome::Error(format!("bad Prometheus address: {e}")),
    };
    let exchange = async {
        let form = [
            ("query", query.to_string()),
            ("timeout", format!("{}s", timeout.as_secs().max(1))),
        ];
        let mut response = client
            .post(url)
            .form(&form)
            .send()
            .await
            .map_err(|e| failure(&e))?;
        let status = response.status();
        let mut answer = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| failure(&e))? {
            if answer.len() + chunk.len() > MAX_ANSWER {
                return Err(format!(
                    "answer larger than {} KiB; the query must return one sample",
                    MAX_ANSWER / 1024
                ));
            }
            answer.extend_from_slice(&chunk);
        }
        Ok((status, answer))
    };
    let (status, answer) = match tokio::time::timeout(timeout, exchange).await {
        Err(_) => {
            return ProbeOutcome::Error(format!(
                "Prometheus did not answer within {}s",
                timeout.as_secs()
            ));
        }
        Ok(Err(reason)) => return ProbeOutcome::Error(reason),
        Ok(Ok(answer)) => answer,
    };
    let Ok(answer) = serde_json::from_slice::<Answer>(&answer) else {
        // A proxy's HTML error page, say: its text is not worth repeating.
        return ProbeOutcome::Error(format!(
            "Prometheus answered HTTP {} without a query result",
            status.as_u16()
        ));
    };
    if answer.status != "success" {
        // Prometheus' own `error` text can quote series with their labels (duplicate series,
        // many-to-many matching): data of any namespace. Only its error type is passed on.
        let (kind, meaning) = error_meaning(answer.error_type.as_deref());
        return ProbeOutcome::Error(format!(
            "Prometheus answered {}: {kind}: {meaning} (Prometheus' own message is not repeated: it can quote series and their labels)",
            status.as_u16()
        ));
    }
    match answer.data {
        Some(data) => value_of(&data.result_type, &data.result),
        None => ProbeOutcome::Error("Prometheus answered success without data".into()),
    }
}

/// Prometheus' `errorType` (one of the API's documented values, else `unknown`) and a fixed
/// wording for it: nothing of the answer's own text.
fn error_meaning(error_type: Option<&str>) -> (&'static str, &'static str) {
    match error_type {
        Some("bad_data") => (
            "bad_data",
            "the query or its parameters are not valid (check the PromQL in the Prometheus UI)",
        ),
        Some("execution") => (
            "execution",
            "the query failed while being evaluated (for example many-to-many matching or duplicate series)",
        ),
        Some("timeout") => ("timeout", "the query took longer than Prometheus allows"),
        Some("canceled") => ("canceled", "the query was canceled"),
        Some("internal") => ("internal", "Prometheus reported an internal error"),
        Some("unavailable") => ("unavailable", "Prometheus is not available"),
        Some("not_found") => ("not_found", "Prometheus did not find what was asked"),
        Some("not_acceptable") => ("not_acceptable", "Prometheus refused the request"),
        _ => (
            "unknown",
            "Prometheus reported an error of a type gonogo does not know",
        ),
    }
}

/// A scalar or a one-element vector is a value; an empty vector is no data.
fn value_of(result_type: &str, result: &Json) -> ProbeOutcome {
    match result_type {
        "scalar" => sample(result),
        "vector" => match result.as_array().map(Vec::as_slice) {
            Some([]) => ProbeOutcome::Value(None),
            Some([one]) => match (one.get("value"), one.get("histogram")) {
                (Some(value), _) => sample(value),
                // Native histogram samples come as `histogram`, not `value`.
                (None, Some(_)) => ProbeOutcome::Error(
                    "query returned a native histogram; expected a number (use histogram_quantile, histogram_count or histogram_sum)".into(),
                ),
                (None, None) => ProbeOutcome::Error("malformed sample".into()),
            },
            Some(many) => ProbeOutcome::Error(format!("query returned {} series; expected 1", many.len())),
            None => ProbeOutcome::Error("malformed vector result".into()),
        },
        "matrix" => ProbeOutcome::Error("query returned a range vector; use an instant vector or a scalar".into()),
        other => ProbeOutcome::Error(format!("query returned a {other}; expected a scalar or a one-element vector")),
    }
}

/// `[timestamp, "value"]`, where the value may be `NaN`, `+Inf` or `-Inf`.
fn sample(pair: &Json) -> ProbeOutcome {
    let text = pair
        .as_array()
        .and_then(|p| p.get(1))
        .and_then(Json::as_str);
    match text.map(|t| (t, t.parse::<f64>())) {
        Some((_, Ok(v))) => ProbeOutcome::Value(Some(v)),
        Some((t, Err(_))) => {
            ProbeOutcome::Error(format!("sample value {:?} is not a number", shorten(t, 40)))
        }
        None => ProbeOutcome::Error("malformed sample".into()),
    }
}

fn failure(error: &reqwest::Error) -> String {
    let mut root: &dyn std::error::Error = error;
    while let Some(source) = root.source() {
        root = source;
    }
    let cause = shorten(&root.to_string(), 160);
    if error.is_connect() {
        format!("cannot connect to Prometheus: {cause}")
    } else {
        format!("Prometheus request failed: {cause}")
    }
}

/// Whether `value OP threshold` holds (the `prometheus` check's operators).
pub fn holds(operator: &str, value: f64, threshold: f64) -> bool {
    crate::checks::prometheus::comparison(operator).is_some_and(|holds| holds(value, threshold))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A fake Prometheus on 127.0.0.1 answering every request with `status` and `body`, and
    /// keeping the requests it got.
    async fn prometheus(
        status: &'static str,
        body: &'static str,
    ) -> (Url, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address: SocketAddr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 4096];
                    // Read the head and the form body (content-length).
                    loop {
                        let Ok(n) = socket.read(&mut buf).await else {
                            return;
                        };
                        if n == 0 {
                            break;
                        }
                        request.extend_from_slice(&buf[..n]);
                        let text = String::from_utf8_lossy(&request).to_string();
                        if let Some(head_end) = text.find("\r\n\r\n") {
                            let length = text[..head_end]
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("content-length: ")
                                        .map(|v| v.trim().parse::<usize>().unwrap())
                                })
                                .unwrap_or(0);
                            if request.len() >= head_end + 4 + length {
                                break;
                            }
                        }
                    }
                    log.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&request).to_string());
                    let response = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
        });
        (parse_url(&format!("http://{address}/prom")).unwrap(), seen)
    }

    async fn ask(status: &'static str, body: &'static str) -> ProbeOutcome {
        let (url, _) = prometheus(status, body).await;
        query_once(&client().unwrap(), &url, "errors", Duration::from_secs(2)).await
    }

    #[tokio::test]
    async fn one_vector_sample_is_the_value() {
        let (url, seen) = prometheus(
            "200 OK",
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"api"},"value":[1780000000.5,"0.0004"]}]}}"#,
        )
        .await;
        let outcome = query_once(
            &client().unwrap(),
            &url,
            "sum(rate(errors[5m])) / sum(rate(requests[5m]))",
            Duration::from_secs(2),
        )
        .await;
        assert_eq!(outcome, ProbeOutcome::Value(Some(0.0004)));
        // Below a threshold of 0.001, above one of 0.0001.
        assert!(holds("<", 0.0004, 0.001));
        assert!(!holds("<", 0.0004, 0.0001));
        let request = seen.lock().unwrap().join("");
        assert!(
            request.starts_with("POST /prom/api/v1/query HTTP/1.1"),
            "{request}"
        );
        assert!(
            request.contains("query=sum%28rate%28errors%5B5m%5D%29%29+%2F+sum"),
            "{request}"
        );
    }

    #[tokio::test]
    async fn scalars_no_data_and_special_values() {
        assert_eq!(
            ask(
                "200 OK",
                r#"{"status":"success","data":{"resultType":"scalar","result":[1780000000,"42"]}}"#
            )
            .await,
            ProbeOutcome::Value(Some(42.0))
        );
        assert_eq!(
            ask(
                "200 OK",
                r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#
            )
            .await,
            ProbeOutcome::Value(None)
        );
        assert_eq!(
            ask("200 OK", r#"{"status":"success","data":{"resultType":"scalar","result":[1780000000,"+Inf"]}}"#).await,
            ProbeOutcome::Value(Some(f64::INFINITY))
        );
        match ask(
            "200 OK",
            r#"{"status":"success","data":{"resultType":"scalar","result":[1780000000,"NaN"]}}"#,
        )
        .await
        {
            ProbeOutcome::Value(Some(v)) => assert!(v.is_nan()),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn several_series_and_range_vectors_are_errors() {
        assert_eq!(
            ask(
                "200 OK",
                r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pod":"a"},"value":[1,"1"]},{"metric":{"pod":"b"},"value":[1,"2"]},{"metric":{"pod":"c"},"value":[1,"3"]}]}}"#
            )
            .await,
            ProbeOutcome::Error("query returned 3 series; expected 1".into())
        );
        assert_eq!(
            ask(
                "200 OK",
                r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#
            )
            .await,
            ProbeOutcome::Error(
                "query returned a range vector; use an instant vector or a scalar".into()
            )
        );
    }

    /// Prometheus' error texts can carry label sets of any namespace; none of it reaches the
    /// gate's message, whatever the error type (a made-up one included).
    #[tokio::test]
    async fn prometheus_error_texts_are_reduced_to_their_type() {
        const MARKER: &str = "LEAKED-LABEL-VALUE-7731";
        for (status, body, kind) in [
            (
                "422 Unprocessable Entity",
                r#"{"status":"error","errorType":"execution","error":"found duplicate series for the match group {namespace=\"payments\", secret_name=\"LEAKED-LABEL-VALUE-7731\"} on the right hand-side of the operation"}"#,
                "execution: the query failed while being evaluated",
            ),
            (
                "400 Bad Request",
                r#"{"status":"error","errorType":"bad_data","error":"1:1: parse error: unexpected LEAKED-LABEL-VALUE-7731"}"#,
                "bad_data: the query or its parameters are not valid",
            ),
            (
                "503 Service Unavailable",
                r#"{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation LEAKED-LABEL-VALUE-7731"}"#,
                "timeout: the query took longer than Prometheus allows",
            ),
            (
                "500 Internal Server Error",
                r#"{"status":"error","errorType":"LEAKED-LABEL-VALUE-7731","error":"LEAKED-LABEL-VALUE-7731"}"#,
                "unknown: Prometheus reported an error of a type gonogo does not know",
            ),
            (
                "500 Internal Server Error",
                r#"{"status":"error","error":"LEAKED-LABEL-VALUE-7731"}"#,
                "unknown:",
            ),
        ] {
            match ask(status, body).await {
                ProbeOutcome::Error(message) => {
                    assert!(!message.contains(MARKER), "{message}");
                    assert!(message.contains(kind), "{message}");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_native_histogram_is_not_a_value() {
        assert_eq!(
            ask(
                "200 OK",
                r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"histogram":[1780000000,{"count":"2","sum":"3","buckets":[[0,"0.5","1","2"]]}]}]}}"#
            )
            .await,
            ProbeOutcome::Error("query returned a native histogram; expected a number (use histogram_quantile, histogram_count or histogram_sum)".into())
        );
    }

    #[tokio::test]
    async fn error_answers_say_why_without_the_page() {
        assert_eq!(
            ask("400 Bad Request", r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error"}"#).await,
            ProbeOutcome::Error("Prometheus answered 400: bad_data: the query or its parameters are not valid (check the PromQL in the Prometheus UI) (Prometheus' own message is not repeated: it can quote series and their labels)".into())
        );
        assert_eq!(
            ask(
                "502 Bad Gateway",
                "<html><body>upstream token=abc123 failed</body></html>"
            )
            .await,
            ProbeOutcome::Error("Prometheus answered HTTP 502 without a query result".into())
        );
    }

    #[tokio::test]
    async fn an_unreachable_prometheus_is_an_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = parse_url(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        drop(listener);
        match query_once(&client().unwrap(), &url, "up", Duration::from_secs(2)).await {
            ProbeOutcome::Error(reason) => assert!(
                reason.starts_with("cannot connect to Prometheus"),
                "{reason}"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn addresses() {
        assert_eq!(
            parse_url("http://prometheus.monitoring:9090")
                .unwrap()
                .as_str(),
            "http://prometheus.monitoring:9090/"
        );
        assert_eq!(
            parse_url("https://thanos.example/prometheus")
                .unwrap()
                .join("api/v1/query")
                .unwrap()
                .as_str(),
            "https://thanos.example/prometheus/api/v1/query"
        );
        assert!(parse_url("file:///etc/passwd").is_err());
        assert!(parse_url("http://prom:9090/?x=1").is_err());
        assert!(parse_url("prometheus:9090").is_err());
    }
}
