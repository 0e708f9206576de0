@keys
Feature: Key rotation and key outages never open the fortress
  Google rotates the keys it signs with; a verifier must pick up new keys by their kid and stop
  trusting retired ones. When a key endpoint fails, the gateway and the services cannot check a
  token and must refuse it (fail closed), never wave it through.

  Background:
    Given the fortress is running

  @isolated @local-only
  Scenario: After Google rotates its signing key tokens signed by the previous key still pass IAP
    Given the google signing key is rotated
    And a Google ID token for "<gateway service account>"
    When the client calls the load balancer with GET "/smoothie"
    Then the response is smoothie data

  @isolated @local-only
  Scenario: After Firebase rotates its signing key users signed in before still get through the gateway
    Given a Firebase token for "alice@example.com"
    And the securetoken signing key is rotated
    When the client calls the gateway with GET "/coffee"
    Then the response is coffee data

  @isolated @local-only
  Scenario: Services started after IAP rotated its key verify assertions signed with the new key
    Given the iap signing key is rotated
    And a signed-in Firebase user "alice@example.com"
    When the client calls the gateway with GET "/smoothie/whoami"
    Then the response status is 200
    And the response JSON at "/verified" is "true"

  @isolated @local-only
  Scenario: A Google ID token signed by a retired key is refused by IAP
    Given the google signing key is rotated and the old one retired
    And a Google ID token for "<gateway service account>"
    When the client calls the load balancer with GET "/smoothie"
    Then the response status is 401
    And the response body is "Invalid IAP credentials: JWT signature is invalid"

  @isolated @local-only
  Scenario: A Firebase token signed by a retired key is refused by the gateway
    Given the securetoken signing key is rotated and the old one retired
    And a Firebase token for "alice@example.com"
    When the client calls the gateway with GET "/smoothie"
    Then the response status is 401
    And the answer came from the gateway

  @isolated @local-only
  Scenario: When IAP's key endpoint fails a service that has no key cached fails closed
    Given the iap key endpoints answer 503
    And a signed-in Firebase user "alice@example.com"
    When the client calls the gateway with GET "/smoothie"
    Then the response status is 503
    And the response JSON at "/error/reason" is "iap_keys_unavailable"
    And the answer came from "smoothie-service"

  @isolated @local-only
  Scenario: When Firebase's key endpoint fails the gateway refuses tokens it cannot check
    Given the securetoken key endpoints answer 503
    And a signed-in Firebase user "alice@example.com"
    When the client calls the gateway with GET "/smoothie"
    Then the response status is 401
    And the answer came from the gateway
    And "smoothie-service" saw nothing
