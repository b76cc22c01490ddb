//! Elastic Common Schema field names that Rampart's parsers fill in.
//!
//! Parsers set only what the source clearly states; nothing is guessed. The constants
//! exist so that parsers, detection mappings and the console spell the names alike.

pub const TIMESTAMP: &str = "@timestamp";
pub const MESSAGE: &str = "message";

pub const EVENT_KIND: &str = "event.kind";
pub const EVENT_CATEGORY: &str = "event.category";
pub const EVENT_TYPE: &str = "event.type";
pub const EVENT_ACTION: &str = "event.action";
pub const EVENT_OUTCOME: &str = "event.outcome";
pub const EVENT_CODE: &str = "event.code";
pub const EVENT_PROVIDER: &str = "event.provider";
pub const EVENT_DATASET: &str = "event.dataset";
pub const EVENT_MODULE: &str = "event.module";
pub const EVENT_SEVERITY: &str = "event.severity";
pub const EVENT_DURATION: &str = "event.duration";
pub const EVENT_ORIGINAL: &str = "event.original";
pub const EVENT_INGESTED: &str = "event.ingested";

pub const HOST_NAME: &str = "host.name";
pub const HOST_HOSTNAME: &str = "host.hostname";
pub const HOST_IP: &str = "host.ip";

pub const SOURCE_IP: &str = "source.ip";
pub const SOURCE_PORT: &str = "source.port";
pub const SOURCE_BYTES: &str = "source.bytes";
pub const SOURCE_DOMAIN: &str = "source.domain";
pub const DESTINATION_IP: &str = "destination.ip";
pub const DESTINATION_PORT: &str = "destination.port";
pub const DESTINATION_BYTES: &str = "destination.bytes";
pub const DESTINATION_DOMAIN: &str = "destination.domain";

pub const USER_NAME: &str = "user.name";
pub const USER_ID: &str = "user.id";
pub const USER_DOMAIN: &str = "user.domain";
pub const USER_TARGET_NAME: &str = "user.target.name";

pub const PROCESS_NAME: &str = "process.name";
pub const PROCESS_PID: &str = "process.pid";
pub const PROCESS_COMMAND_LINE: &str = "process.command_line";
pub const PROCESS_EXECUTABLE: &str = "process.executable";
pub const PROCESS_PARENT_NAME: &str = "process.parent.name";
pub const PROCESS_PARENT_PID: &str = "process.parent.pid";
pub const PROCESS_PARENT_EXECUTABLE: &str = "process.parent.executable";
pub const PROCESS_PARENT_COMMAND_LINE: &str = "process.parent.command_line";

pub const LOG_LEVEL: &str = "log.level";
pub const LOG_LOGGER: &str = "log.logger";
pub const LOG_SYSLOG_FACILITY_CODE: &str = "log.syslog.facility.code";
pub const LOG_SYSLOG_FACILITY_NAME: &str = "log.syslog.facility.name";
pub const LOG_SYSLOG_SEVERITY_CODE: &str = "log.syslog.severity.code";
pub const LOG_SYSLOG_SEVERITY_NAME: &str = "log.syslog.severity.name";
pub const LOG_SYSLOG_PRIORITY: &str = "log.syslog.priority";
pub const LOG_SYSLOG_APPNAME: &str = "log.syslog.appname";
pub const LOG_SYSLOG_MSGID: &str = "log.syslog.msgid";
pub const LOG_SYSLOG_VERSION: &str = "log.syslog.version";
pub const LOG_FILE_PATH: &str = "log.file.path";

pub const OBSERVER_VENDOR: &str = "observer.vendor";
pub const OBSERVER_PRODUCT: &str = "observer.product";
pub const OBSERVER_VERSION: &str = "observer.version";
pub const OBSERVER_HOSTNAME: &str = "observer.hostname";
pub const OBSERVER_TYPE: &str = "observer.type";

pub const NETWORK_PROTOCOL: &str = "network.protocol";
pub const NETWORK_TRANSPORT: &str = "network.transport";
pub const NETWORK_DIRECTION: &str = "network.direction";
pub const NETWORK_BYTES: &str = "network.bytes";
pub const NETWORK_COMMUNITY_ID: &str = "network.community_id";

pub const URL_ORIGINAL: &str = "url.original";
pub const URL_PATH: &str = "url.path";
pub const URL_DOMAIN: &str = "url.domain";
pub const HTTP_REQUEST_METHOD: &str = "http.request.method";
pub const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";
pub const HTTP_RESPONSE_BODY_BYTES: &str = "http.response.body.bytes";
pub const USER_AGENT_ORIGINAL: &str = "user_agent.original";

pub const FILE_PATH: &str = "file.path";
pub const FILE_NAME: &str = "file.name";
pub const FILE_HASH_MD5: &str = "file.hash.md5";
pub const FILE_HASH_SHA1: &str = "file.hash.sha1";
pub const FILE_HASH_SHA256: &str = "file.hash.sha256";

pub const DNS_QUESTION_NAME: &str = "dns.question.name";
pub const RULE_NAME: &str = "rule.name";
pub const RULE_ID: &str = "rule.id";
pub const ERROR_MESSAGE: &str = "error.message";

/// Values of `event.outcome`.
pub mod outcome {
    pub const SUCCESS: &str = "success";
    pub const FAILURE: &str = "failure";
    pub const UNKNOWN: &str = "unknown";
}

/// Values of `event.kind`.
pub mod kind {
    pub const EVENT: &str = "event";
    pub const ALERT: &str = "alert";
    pub const PIPELINE_ERROR: &str = "pipeline_error";
}
