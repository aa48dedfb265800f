# Per-function runtime settings and the Webflow rate-limit budget. Only variables are referenced
# here, so the arithmetic can be evaluated (and tested) without the google provider.

locals {
  # Defaults chosen so that the five functions together stay within the token's rate limit:
  # README.md ("Rate limit budget") has the arithmetic.
  function_defaults = {
    "create-items" = {
      entry_point      = "create_items"
      description      = "Forms, Webflow form webhooks and JSON calls become CMS items."
      memory           = "512Mi"
      cpu              = "1"
      timeout_seconds  = 600
      min_instances    = 0
      max_instances    = 2
      concurrency      = 4
      rate_limit_share = 2
      ingress          = "ALLOW_ALL"
    }
    "update-items" = {
      entry_point      = "update_items"
      description      = "Patch CMS items by id or slug."
      memory           = "512Mi"
      cpu              = "1"
      timeout_seconds  = 600
      min_instances    = 0
      max_instances    = 1
      concurrency      = 4
      rate_limit_share = 2
      ingress          = "ALLOW_ALL"
    }
    "publish-live" = {
      entry_point      = "publish_live"
      description      = "Publish pending CMS changes on a schedule."
      memory           = "512Mi"
      cpu              = "1"
      timeout_seconds  = 540
      min_instances    = 0
      max_instances    = 1
      concurrency      = 1
      rate_limit_share = 1
      # Cloud Scheduler in the same project counts as internal traffic.
      ingress = "ALLOW_INTERNAL_ONLY"
    }
    "upload-asset" = {
      entry_point      = "upload_asset"
      description      = "Cloud Storage uploads become Webflow assets attached to CMS items."
      memory           = "512Mi"
      cpu              = "1"
      timeout_seconds  = 300
      min_instances    = 0
      max_instances    = 2
      concurrency      = 2
      rate_limit_share = 2
      # Eventarc deliveries in the same project count as internal traffic.
      ingress = "ALLOW_INTERNAL_ONLY"
    }
    "drain-intake" = {
      entry_point     = "drain_intake"
      description     = "Queued form posts and webhooks written to the CMS, 100 items per request."
      memory          = "512Mi"
      cpu             = "1"
      timeout_seconds = 300
      min_instances   = 0
      # One writer: the whole queue goes through one instance's share, in batches of 100. Events
      # that arrive while it drains return at once (it looks again before it stops).
      max_instances    = 1
      concurrency      = 8
      rate_limit_share = 5
      # Eventarc and Cloud Scheduler in the same project count as internal traffic.
      ingress = "ALLOW_INTERNAL_ONLY"
    }
  }

  functions = {
    for name, defaults in local.function_defaults : name => merge(defaults, {
      for key, value in try(var.function_settings[name], {}) : key => value if value != null
    })
  }

  # Rate-limit budget: each function gets a share of the token's limit, divided evenly between its
  # instances (the client paces per instance). Flooring keeps the sum at or under the limit.
  total_rate_limit_share = sum([for function in values(local.functions) : function.rate_limit_share])
  function_rate_budget = {
    for name, function in local.functions :
    name => floor(var.webflow_rate_limit_per_minute * function.rate_limit_share / local.total_rate_limit_share)
  }
  instance_rate_limit = {
    for name, function in local.functions :
    name => floor(local.function_rate_budget[name] / function.max_instances)
  }
}
