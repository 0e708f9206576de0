@ingress
Feature: Cloud Run ingress and invoker IAM keep the run.app back door shut
  The services run with ingress internal-and-cloud-load-balancing: their run.app URLs refuse the
  internet and only the load balancer's serverless NEG gets in, as IAP's service agent, the only
  run.invoker. If a service is ever misconfigured (ingress all, even allUsers as invoker), its
  own check of IAP's signed assertion still refuses every request that did not come through IAP.

  Background:
    Given the fortress is running

  Scenario: The back door stays closed even with a valid invoker's token
    Given a Google ID token for "<IAP service agent>" with audience "<run.app URL of coffee-service>"
    When the client calls the run.app URL of "coffee-service"
    Then the back door is closed

  Scenario: The back door stays closed to the gateway's own identity
    Given a Google ID token from the metadata server for audience "<run.app URL of smoothie-service>"
    When the client calls the run.app URL of "smoothie-service" with GET "/smoothie/whoami"
    Then the back door is closed

  Scenario: Cloud Run's reserved paths are answered by Google, not the service, even through IAP
    Given a Google ID token from the metadata server for audience "<IAP client id>"
    When the client calls the load balancer with GET "/smoothie/healthz"
    Then the response status is 404
    And the answer came from Cloud Run

  @isolated @local-only
  Scenario: Ingress internal shuts out the load balancer too
    Given "coffee-service" has ingress "internal"
    And a signed-in Firebase user "alice@example.com"
    When the client calls the gateway with GET "/coffee"
    Then the response status is 404
    And "coffee-service" saw nothing
    When the client calls the gateway with GET "/smoothie"
    Then the response is smoothie data

  @isolated @local-only
  Scenario: Ingress internal keeps the run.app URL closed
    Given "coffee-service" has ingress "internal"
    When the client calls the run.app URL of "coffee-service"
    Then the back door is closed

  @isolated @local-only
  Scenario: With ingress all an anonymous caller is still stopped by invoker IAM with 403
    Given "coffee-service" has ingress "all"
    And an anonymous client
    When the client calls the run.app URL of "coffee-service"
    Then the response status is 403
    And the response body contains "Your client does not have permission to get URL"
    And the answer came from Cloud Run

  @isolated @local-only
  Scenario: With ingress all a token that does not verify is refused with 401
    Given "coffee-service" has ingress "all"
    And a Google ID token for "<IAP service agent>" signed by an unknown key
    When the client calls the run.app URL of "coffee-service"
    Then the response status is 401
    And the response header "WWW-Authenticate" contains "invalid_token"
    And "coffee-service" saw nothing

  @isolated @local-only
  Scenario: With ingress all a valid token of an account that is not an invoker gets 403
    Given "coffee-service" has ingress "all"
    And a Google ID token from the metadata server for audience "<run.app URL of coffee-service>"
    When the client calls the run.app URL of "coffee-service"
    Then the response status is 403
    And "coffee-service" saw nothing

  @isolated @local-only
  Scenario: A misconfigured service (ingress all) is still protected by its own assertion check
    Given "coffee-service" has ingress "all"
    And a Google ID token for "<IAP service agent>" with audience "<run.app URL of coffee-service>"
    When the client calls the run.app URL of "coffee-service"
    Then the response status is 401
    And the response JSON at "/error/reason" is "missing_iap_assertion"
    And the answer came from "coffee-service"

  @isolated @local-only
  Scenario: A public service (ingress all, allUsers invoker) still ignores forged identity headers
    Given "coffee-service" has ingress "all"
    And "allUsers" is an invoker of "coffee-service"
    When the client calls the run.app URL of "coffee-service" with GET "/coffee/whoami" and header "X-Goog-Authenticated-User-Email: accounts.google.com:admin@corp.com"
    Then the response status is 401
    And the response JSON at "/error/reason" is "missing_iap_assertion"
    And the response body does not contain "admin@corp.com"

  @isolated @local-only
  Scenario: A public service refuses an IAP assertion forged with an unknown key
    Given "coffee-service" has ingress "all"
    And "allUsers" is an invoker of "coffee-service"
    And the client holds an IAP assertion for "coffee-service" as "admin@corp.com" signed by an unknown key
    When the client calls the run.app URL of "coffee-service" with GET "/coffee/whoami"
    Then the response status is 401
    And the response JSON at "/error/rule" is "unknown_kid"

  @isolated @local-only
  Scenario: A public service refuses a genuine IAP assertion minted for another backend
    Given "coffee-service" has ingress "all"
    And "allUsers" is an invoker of "coffee-service"
    And the client holds an IAP assertion for "smoothie-service" as "admin@corp.com"
    When the client calls the run.app URL of "coffee-service" with GET "/coffee/whoami"
    Then the response status is 401
    And the response JSON at "/error/rule" is "wrong_audience"

  @isolated @local-only
  Scenario: Without IAP's service agent as invoker the load balancer gets Cloud Run's 403 after IAP
    Given the IAP service agent is not an invoker of "coffee-service"
    And a signed-in Firebase user "alice@example.com"
    When the client calls the gateway with GET "/coffee"
    Then the response status is 403
    And the response body contains "Your client does not have permission"
    And "coffee-service" saw nothing
    When the client calls the gateway with GET "/smoothie"
    Then the response is smoothie data

  @isolated @local-only
  Scenario: Closing ingress again after opening it shuts the back door
    Given "smoothie-service" has ingress "all"
    And "allUsers" is an invoker of "smoothie-service"
    And "smoothie-service" has ingress "internal-and-cloud-load-balancing"
    When the client calls the run.app URL of "smoothie-service"
    Then the back door is closed

  Scenario: Cloud Run tells the service the request came over HTTPS and from where
    Given a signed-in Firebase user "alice@example.com"
    When the client calls the gateway with GET "/smoothie"
    Then the response is smoothie data
    And "smoothie-service" saw the header "x-forwarded-proto" with value "https"
    And "smoothie-service" saw the header "x-forwarded-for"
    And "smoothie-service" saw the header "x-cloud-trace-context"

  Scenario: A caller inside the VPC passes the default ingress but still meets invoker IAM
    Given the client is inside the project's VPC network
    And an anonymous client
    When the client calls the run.app URL of "smoothie-service"
    Then the response status is 403
    And the response body contains "Your client does not have permission to get URL"
    And "smoothie-service" saw nothing

  @isolated @local-only
  Scenario: With ingress internal a VPC caller holding an invoker's token still needs IAP's assertion
    Given "coffee-service" has ingress "internal"
    And the client is inside the project's VPC network
    And a Google ID token for "<IAP service agent>" with audience "<run.app URL of coffee-service>"
    When the client calls the run.app URL of "coffee-service"
    Then the response status is 401
    And the response JSON at "/error/reason" is "missing_iap_assertion"
    And the answer came from "coffee-service"
