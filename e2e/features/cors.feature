@cors
Feature: CORS preflights through the gateway and IAP
  Browsers send an unauthenticated OPTIONS preflight before a credentialed cross-origin call.
  API Gateway answers it only when openapi.yaml sets x-google-endpoints allowCors; IAP lets it
  through without credentials only when its settings allow HTTP OPTIONS. The shipped fortress
  allows neither, so no preflight reaches a service and no CORS header is ever granted.

  Background:
    Given the fortress is running

  Scenario: Without allowCors the gateway refuses a preflight as a method the API does not define
    Given an anonymous client
    When the client sends a CORS preflight to the gateway for "/smoothie" from origin "https://app.example.com"
    Then the response status is 405
    And the response has no header "Access-Control-Allow-Origin"
    And the answer came from the gateway

  Scenario: Without allowHttpOptions IAP treats a preflight like any request without credentials
    Given an anonymous client
    When the client sends a CORS preflight to the load balancer for "/smoothie" from origin "https://app.example.com"
    Then the client is sent to Google sign-in
    And the response has no header "Access-Control-Allow-Origin"
    And "smoothie-service" saw nothing

  Scenario: A cross-origin call through the gateway gets no CORS grant from anyone on the way
    Given a signed-in Firebase user "alice@example.com"
    When the client calls the gateway with GET "/smoothie" and header "Origin: https://evil.example.com"
    Then the response is smoothie data
    And the response has no header "Access-Control-Allow-Origin"

  @local-only
  Scenario: With allowCors the gateway passes a preflight on without a token, and the service must answer it
    Given a fortress where openapi.yaml sets "x-google-endpoints" to "[{\"name\":\"fortress-api.endpoints.my-project.cloud.goog\",\"allowCors\":true}]"
    And an anonymous client
    When the client sends a CORS preflight to the gateway for "/smoothie" from origin "https://app.example.com"
    Then the answer came from "smoothie-service"
    And the response status is 405
    And "smoothie-service" saw the IAP-verified identity "<gateway service account>"

  @local-only
  Scenario: With allowCors and allowHttpOptions a preflight reaches the service with no IAP assertion at all
    Given a fortress where openapi.yaml sets "x-google-endpoints" to "[{\"name\":\"fortress-api.endpoints.my-project.cloud.goog\",\"allowCors\":true}]"
    And a fortress where fortress.yaml sets "iap.allowHttpOptions" to "true"
    And an anonymous client
    When the client sends a CORS preflight to the gateway for "/coffee" from origin "https://app.example.com"
    Then the response status is 401
    And the response JSON at "/error/reason" is "missing_iap_assertion"
    And "coffee-service" did not see the header "x-goog-iap-jwt-assertion"

  @local-only
  Scenario: With allowHttpOptions a preflight passes IAP but reaches the service without an assertion
    Given a fortress where fortress.yaml sets "iap.allowHttpOptions" to "true"
    And an anonymous client
    When the client sends a CORS preflight to the load balancer for "/smoothie" from origin "https://app.example.com"
    Then the response status is 401
    And the response JSON at "/error/reason" is "missing_iap_assertion"
    And "smoothie-service" did not see the header "x-goog-iap-jwt-assertion"

  @local-only
  Scenario: With allowHttpOptions only OPTIONS skips IAP; a GET without credentials is still redirected
    Given a fortress where fortress.yaml sets "iap.allowHttpOptions" to "true"
    And an anonymous client
    When the client calls the load balancer with GET "/smoothie"
    Then the client is sent to Google sign-in
    And "smoothie-service" saw nothing
