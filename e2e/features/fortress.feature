@tutorial
Feature: The tutorial's three tests
  The fortress hides Cloud Run services behind API Gateway, a load balancer and Identity-Aware
  Proxy. A reader of the tutorial checks it with three requests: the service's own run.app URL
  (the back door) must be closed, the load balancer (the front door) must turn away a caller
  without a pass, and the gateway must let a signed-in Firebase user through to the data.

  Background:
    Given the fortress is running

  Scenario: The back door of smoothie-service (its run.app URL) is closed
    Given an anonymous client
    When the client calls the run.app URL of "smoothie-service"
    Then the back door is closed

  Scenario: The back door of coffee-service (its run.app URL) is closed
    Given an anonymous client
    When the client calls the run.app URL of "coffee-service"
    Then the back door is closed

  Scenario: The front door without a pass answers "Invalid IAP credentials: empty token" for smoothie
    Given an anonymous client
    When the client calls the load balancer with GET "/smoothie"
    Then the response status is 302
    And the response body contains "Invalid IAP credentials: empty token"
    And "smoothie-service" saw nothing

  Scenario: The front door without a pass answers "Invalid IAP credentials: empty token" for coffee
    Given an anonymous client
    When the client calls the load balancer with GET "/coffee"
    Then the response status is 302
    And the response body contains "Invalid IAP credentials: empty token"
    And "coffee-service" saw nothing

  Scenario: The gateway with a Firebase token returns smoothie data
    Given a signed-in Firebase user "alice@example.com"
    When the client calls the gateway with GET "/smoothie"
    Then the response status is 200
    And the response is smoothie data
    And "smoothie-service" saw the IAP-verified identity "<gateway service account>"

  Scenario: The gateway with a Firebase token returns coffee data
    Given a signed-in Firebase user "alice@example.com"
    When the client calls the gateway with GET "/coffee"
    Then the response status is 200
    And the response is coffee data
    And "coffee-service" saw the IAP-verified identity "<gateway service account>"
