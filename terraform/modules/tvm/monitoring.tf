# Observability, behind var.enable_monitoring: log-based metrics read tvm's audit lines
# (src/audit.ts writes one per token request, with jsonPayload.audit.decision "allow"
# or "deny" and jsonPayload.audit.reason "granted" or the error code), two alert
# policies, a dashboard (dashboard.json; its layout is drawn in dashboard.svg) and an
# uptime check of GET /health.

locals {
  # A 2nd gen function logs as the Cloud Run revision of its service.
  audit_filter = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    format("resource.labels.service_name=%q", local.function_name),
    "jsonPayload.audit.decision:*",
  ])

  metrics = {
    vends = {
      filter      = format("%s AND jsonPayload.audit.decision=%q", local.audit_filter, "allow")
      description = "Tokens handed out by tvm (${var.name}), by target service account and client."
      labels = {
        service_account = "EXTRACT(jsonPayload.audit.serviceAccount)"
        client          = "EXTRACT(jsonPayload.audit.client)"
      }
    }
    denials = {
      filter      = format("%s AND jsonPayload.audit.decision=%q", local.audit_filter, "deny")
      description = "Token requests tvm (${var.name}) refused, by reason (the error code)."
      labels = {
        reason = "EXTRACT(jsonPayload.audit.reason)"
      }
    }
    upstream_errors = {
      filter      = format("%s AND jsonPayload.audit.reason=~%q", local.audit_filter, "^ERR_UPSTREAM_")
      description = "Token requests that failed because Google refused or did not answer (IAM Credentials, the token endpoint, Secret Manager), by reason."
      labels = {
        reason = "EXTRACT(jsonPayload.audit.reason)"
      }
    }
  }

  # Where GET /health is served: the issuer's host and path.
  health_host = regex("^https://([^/:]+)", local.issuer)[0]
  health_path = "${trimprefix(local.issuer, "https://${local.health_host}")}/health"

  # The metric types Cloud Monitoring knows the log-based metrics by.
  metric_types = { for k, m in google_logging_metric.tvm : k => "logging.googleapis.com/user/${m.name}" }
}

resource "google_logging_metric" "tvm" {
  for_each = var.enable_monitoring ? local.metrics : {}

  project          = var.project_id
  name             = "${local.metric_prefix}/${each.key}"
  description      = each.value.description
  filter           = each.value.filter
  label_extractors = each.value.labels

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "tvm ${each.key} (${var.name})"

    dynamic "labels" {
      for_each = each.value.labels
      content {
        key        = labels.key
        value_type = "STRING"
      }
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_monitoring_alert_policy" "upstream_errors" {
  count = var.enable_monitoring ? 1 : 0

  project               = var.project_id
  display_name          = "tvm (${var.name}): upstream failures"
  combiner              = "OR"
  notification_channels = var.alert_notification_channels

  conditions {
    display_name = "More than ${var.upstream_error_threshold} upstream errors in 5 minutes"

    condition_threshold {
      filter          = format("metric.type=%q AND resource.type=%q", local.metric_types.upstream_errors, "cloud_run_revision")
      comparison      = "COMPARISON_GT"
      threshold_value = var.upstream_error_threshold
      duration        = "0s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "tvm could not reach Google or Google refused it (IAM Credentials, the OAuth token endpoint or Secret Manager). Callers get 502/503 with Retry-After. Check the denials by reason on the tvm dashboard, Google Cloud's status page, and whether a target service account or its grant was removed (ERR_UPSTREAM_REFUSED). docs/deploy.md has the runbook."
  }

  alert_strategy {
    auto_close = "1800s"
  }
}

resource "google_monitoring_alert_policy" "denial_spike" {
  count = var.enable_monitoring ? 1 : 0

  project               = var.project_id
  display_name          = "tvm (${var.name}): denial spike"
  combiner              = "OR"
  notification_channels = var.alert_notification_channels

  conditions {
    display_name = "More than ${var.denial_spike_threshold} denied token requests in 5 minutes"

    condition_threshold {
      filter          = format("metric.type=%q AND resource.type=%q", local.metric_types.denials, "cloud_run_revision")
      comparison      = "COMPARISON_GT"
      threshold_value = var.denial_spike_threshold
      duration        = "0s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Many token requests were refused. The denials chart on the tvm dashboard splits them by reason: invalid_client after a key roll means a client still uses a retired key; a policy change may have removed an allow rule (roll it back: docs/deploy.md); a burst from one address with invalid_client is someone guessing. The audit lines (jsonPayload.audit) name client, reason and detail."
  }

  alert_strategy {
    auto_close = "1800s"
  }
}

resource "google_monitoring_dashboard" "tvm" {
  count = var.enable_monitoring ? 1 : 0

  project = var.project_id
  dashboard_json = templatefile("${path.module}/dashboard.json", {
    name          = var.name
    service       = local.function_name
    metric_prefix = local.metric_prefix
  })

  depends_on = [google_logging_metric.tvm]
}

# The probe: GET /health every 5 minutes from several regions. Only where Cloud Run
# lets an unauthenticated request through (with invoker = "iam" it would get 403).
resource "google_monitoring_uptime_check_config" "health" {
  count = var.enable_monitoring && var.invoker != "iam" ? 1 : 0

  project      = var.project_id
  display_name = "tvm (${var.name}) /health"
  timeout      = "10s"
  period       = "300s"

  http_check {
    path         = local.health_path
    port         = 443
    use_ssl      = true
    validate_ssl = true

    accepted_response_status_codes {
      status_class = "STATUS_CLASS_2XX"
    }
  }

  monitored_resource {
    type = "uptime_url"
    labels = {
      project_id = var.project_id
      host       = local.health_host
    }
  }

  depends_on = [google_project_service.apis]
}
