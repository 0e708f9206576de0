@gateway
Feature: The gateway lets only valid Firebase tokens through
  API Gateway (the gateway shim locally, from the same openapi.yaml) checks the caller's Firebase
  ID token before anything reaches the load balancer. Every refusal is ESPv2's: a JSON body
  {"code":N,"message":"..."} and, for token failures, a WWW-Authenticate challenge. Tokens below
  are signed with the real keys unless the scenario says otherwise, so each is wrong in exactly
  one way.

  Background:
    Given the fortress is running

  Scenario: A request without a token is refused with "Jwt is missing"
    Given an anonymous client
    When the client calls the gateway with GET "/smoothie"
    Then the response status is 401
    And the response body is "{\"code\":401,\"message\":\"Jwt is missing\"}"
    And the response header "WWW-Authenticate" starts with "Bearer realm="
    And the answer came from the gateway

  @local-only
  Scenario: An expired Firebase token is refused with "Jwt is expired"
    Given a Firebase token for "alice@example.com" that expired 10 minutes ago
    When the client calls the gateway with GET "/smoothie"
    Then the response status is 401
    And the response body is "{\"code\":401,\"message\":\"Jwt is expired\"}"
    And the response header "WWW-Authenticate" contains "error=\"invalid_token\""
    And the answer came from the gateway

  @local-only
  Scenario: A Firebase token that is not valid yet is refused with "Jwt not yet valid"
    Given a Firebase token for "alice@example.com" that is not valid for another 10 minutes
    When the client calls the gateway with GET "/smoothie"
    Then the response status is 401
    And the response body is "{\"code\":401,\"message\":\"Jwt not yet valid\"}"
    And the answer came from the gateway

  @local-only
  Scenario: A Firebase token for another project is refused with "Audiences in Jwt are not allowed"
    Given a Firebase token for "alice@example.com" with audience "other-project"
    When the client calls the gateway with GET "/smoothie"
    Then the response status is 403
    And the response body is "{\"code\":403,\"message\":\"Audiences in Jwt are not allowed\"}"
    And the answer came from the gateway

  @local-only
  Scenario: A token from another issuer is refused with "Jwt issuer is not configured"
    Given a Firebase token for "alice@example.com" with issuer "https://securetoken.google.com/other-project"
    When the client calls the gateway with GET "/smoothie"
    Then the response status is 401
    And the response body is "{\"code\":401,\"message\":\"Jwt issuer is not configured\"}"
    And the answer came from the gateway

  Scenario: A Google ID token is not a Firebase token and is refused at the gateway
    Given a Google ID token from the metadata server for audience "<project id>"
    When the client calls the gateway with GET "/smoothie"
    Then the response status is 401
    And the response body is "{\"code\":401,\"message\":\"Jwt issuer is not configured\"}"

  @local-only
  Scenario: An unsigned token with alg "none" is refused
    Given an unsigned Firebase token for "alice@example.com" with alg "none"
    When the client calls the gateway with GET "/smoothie"
    Then the response status is 401
    And the response body does not contain "recipes"
    And the answer came from the gateway
    And "smoothie-service" saw nothing

  @local-only
  Scenario: A token signed with HS256 using the issuer's public key is refused
    Given a Firebase token for "alice@example.com" signed with HS256 using the issuer's public key
    When the client calls the gateway with GET "/smoothie"
    Then the response status is 401
    And the answer came from the gateway

  @local-only
  Scenario: A token signed by a key the issuer never published is refused
    Given a Firebase token for "alice@example.com" signed by an unknown key
    When the client calls the gateway with GET "/smoothie"
    Then the response status is 401
    And the response body is "{\"code\":401,\"message\":\"Jwks doesn't have key to match kid or alg from Jwt\"}"
    And the answer came from the gateway

  @local-only
  Scenario: A token whose kid points at a file path is refused
    Given a Firebase token for "alice@example.com" signed by an unknown key with kid "../../../../../../dev/null"
    When the client calls the gateway with GET "/smoothie"
    Then the response status is 401
    And the response body is "{\"code\":401,\"message\":\"Jwks doesn't have key to match kid or alg from Jwt\"}"

  @local-only
  Scenario: A token whose payload was changed after signing is refused with "Jwt verification fails"
    Given a Firebase token for "mallory@example.com" tampered after signing to set "email" to "admin@corp.com"
    When the client calls the gateway with GET "/smoothie"
    Then the response status is 401
    And the response body is "{\"code\":401,\"message\":\"Jwt verification fails\"}"
    And the answer came from the gateway

  Scenario: A bearer value that is not a JWT is refused as malformed
    Given the client sends the header "Authorization: Bearer not-a-jwt"
    When the client calls the gateway with GET "/smoothie"
    Then the response status is 401
    And the response body is "{\"code\":401,\"message\":\"Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections\"}"

  Scenario: A Firebase token in the access_token query parameter is accepted like a bearer header
    Given a signed-in Firebase user "alice@example.com"
    And the client sends its token in the query parameter "access_token"
    When the client calls the gateway with GET "/smoothie"
    Then the response is smoothie data

  Scenario: A Firebase token in any other query parameter does not count
    Given a signed-in Firebase user "alice@example.com"
    And the client sends its token in the query parameter "token"
    When the client calls the gateway with GET "/smoothie"
    Then the response status is 401
    And the response body is "{\"code\":401,\"message\":\"Jwt is missing\"}"

  Scenario: A path the API does not define is 404 with ESPv2's body, even with a valid token
    Given a signed-in Firebase user "alice@example.com"
    When the client calls the gateway with GET "/tea"
    Then the response status is 404
    And the response body is "{\"code\":404,\"message\":\"The current request is not defined by this API.\"}"
    And the answer came from the gateway

  Scenario: An undefined path is 404 before authentication, so anonymous callers learn nothing more
    Given an anonymous client
    When the client calls the gateway with GET "/admin"
    Then the response status is 404
    And the response body is "{\"code\":404,\"message\":\"The current request is not defined by this API.\"}"

  Scenario: A defined path with a method it does not allow is 405 quoting the template
    Given a signed-in Firebase user "alice@example.com"
    When the client calls the gateway with POST "/smoothie"
    Then the response status is 405
    And the response body is "{\"code\":405,\"message\":\"The current request is matched to the defined url template \\\"/smoothie\\\" but its http method is not allowed\"}"
    And the answer came from the gateway

  Scenario: A templated path with a method it does not allow is 405 quoting the template with its variable
    Given a signed-in Firebase user "alice@example.com"
    When the client calls the gateway with DELETE "/coffee/methods/v60"
    Then the response status is 405
    And the response JSON at "/message" is "The current request is matched to the defined url template \"/coffee/methods/{id}\" but its http method is not allowed"

  Scenario: A client's X-Forwarded-Authorization cannot pose as the caller's token
    Given a signed-in Firebase user "alice@example.com"
    When the client calls the gateway with GET "/smoothie" and header "X-Forwarded-Authorization: Bearer forged.by.mallory"
    Then the response is smoothie data
    And "smoothie-service" did not see the header "X-Forwarded-Authorization" from the client
    And "smoothie-service" saw the client's token in the header "X-Forwarded-Authorization"

  Scenario: A client's X-Apigateway-Api-Userinfo is replaced by the verified token's claims
    Given a signed-in Firebase user "alice@example.com"
    When the client calls the gateway with GET "/smoothie" and header "X-Apigateway-Api-Userinfo: eyJlbWFpbCI6ImFkbWluQGNvcnAuY29tIn0"
    Then the response is smoothie data
    And "smoothie-service" did not see the header "X-Apigateway-Api-Userinfo" from the client
    And "smoothie-service" saw the client's token claims in the header "X-Apigateway-Api-Userinfo"

  Scenario: The gateway calls the load balancer as its own service account, not as the user
    Given a signed-in Firebase user "alice@example.com"
    When the client calls the gateway with GET "/coffee/whoami"
    Then the response status is 200
    And the response JSON at "/email" is "<gateway service account>"
    And "coffee-service" saw the IAP-verified identity "<gateway service account>"

  Scenario: Path templates reach the service with the path unchanged
    Given a signed-in Firebase user "alice@example.com"
    When the client calls the gateway with GET "/smoothie/recipes/green-machine"
    Then the response status is 200
    And the response JSON at "/id" is "green-machine"
    And "smoothie-service" saw the request for "/smoothie/recipes/green-machine"

  Scenario: The query string reaches the service unchanged
    Given a signed-in Firebase user "alice@example.com"
    When the client calls the gateway with GET "/smoothie/search?ingredient=banana"
    Then the response status is 200
    And "smoothie-service" saw the request for "/smoothie/search?ingredient=banana"

  Scenario: A service's own error passes back through the gateway unchanged
    Given a signed-in Firebase user "alice@example.com"
    When the client calls the gateway with GET "/coffee/methods/instant"
    Then the response status is 404
    And the response JSON at "/error/status" is "NOT_FOUND"
    And the answer came from "coffee-service"

  @isolated @local-only
  Scenario: A backend slower than the route's deadline gets 504 "upstream request timeout"
    Given a fortress where openapi.yaml sets "x-google-backend.deadline" to "0.3"
    And "coffee-service" takes 1000 milliseconds to answer
    And a signed-in Firebase user "alice@example.com"
    When the client calls the gateway with GET "/coffee"
    Then the response status is 504
    And the response body is "{\"code\":504,\"message\":\"upstream request timeout\"}"
