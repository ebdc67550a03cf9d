// Runs before every test file: quiet, deterministic, never reaching real AWS.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
process.env.AWS_REGION ??= 'eu-west-1';
process.env.AWS_ACCESS_KEY_ID ??= 'TESTACCESSKEYID';
process.env.AWS_SECRET_ACCESS_KEY ??= 'TESTSECRETACCESSKEY';
process.env.POWERTOOLS_DEV ??= 'false';
process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
process.env.POWERTOOLS_TRACE_ENABLED ??= 'false';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
process.env.POWERTOOLS_SERVICE_NAME ??= 'remoteit-broker';
process.env.POWERTOOLS_METRICS_NAMESPACE ??= 'RemoteitBroker';
