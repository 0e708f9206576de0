@iap
Feature: Identity-Aware Proxy admits only the principals the project allows
  The load balancer's domain is guarded by IAP. A caller needs a Google-signed token whose
  audience is IAP's OAuth client (or a service account's own JWT for the resource URL), an
  email, and the IAP-secured Web App User role on the backend service. Whoever passes, the
  service gets IAP's signed assertion and checks it itself; whatever a client says about
  itself in x-goog-* headers never reaches a service.

  Background:
    Given the fortress is running

  Scenario: A browser without credentials is sent to Google sign-in with IAP's client
    Given an anonymous client
    When the client calls the load balancer with GET "/coffee/cafes?city=Berlin"
    Then the client is sent to Google sign-in
    And the response body is "Invalid IAP credentials: empty token"
    And the response header "X-Goog-IAP-Generated-Response" is "true"
    And the response header "Set-Cookie" starts with "GCP_IAP_XSRF_NONCE_"
    And the answer came from IAP

  Scenario: A script without credentials gets 401 instead of a redirect
    Given an anonymous client
    And the client sends the header "X-Requested-With: XMLHttpRequest"
    When the client calls the load balancer with GET "/smoothie"
    Then the response status is 401
    And the response body is "Invalid IAP credentials: empty token"
    And the response has no header "Location"

  Scenario: A bearer value that is not a JWT is refused with "Unable to parse JWT"
    Given the client sends the header "Authorization: Bearer not-a-jwt"
    When the client calls the load balancer with GET "/smoothie"
    Then the response status is 401
    And the response body is "Invalid IAP credentials: Unable to parse JWT"
    And the answer came from IAP

  Scenario: The gateway's own identity from the metadata server passes IAP
    Given a Google ID token from the metadata server for audience "<IAP client id>"
    When the client calls the load balancer with GET "/smoothie"
    Then the response is smoothie data
    And "smoothie-service" saw the IAP-verified identity "<gateway service account>"

  @local-only
  Scenario: A rogue service account with the right audience is authenticated but has no access
    Given a Google ID token for "<rogue service account>" with audience "<IAP client id>"
    When the client calls the load balancer with GET "/smoothie"
    Then the response status is 403
    And the response body contains "You don't have access"
    And the answer came from IAP

  Scenario: A Google ID token for another audience is refused with "Invalid JWT audience"
    Given a Google ID token from the metadata server for audience "https://example.com"
    When the client calls the load balancer with GET "/smoothie"
    Then the response status is 401
    And the response body is "Invalid IAP credentials: Invalid bearer token. Invalid JWT audience."
    And the answer came from IAP

  @local-only
  Scenario: An expired Google ID token is refused with "JWT has expired"
    Given a Google ID token for "<gateway service account>" that expired 10 minutes ago
    When the client calls the load balancer with GET "/smoothie"
    Then the response status is 401
    And the response body is "OpenID Connect token expired: JWT has expired"
    And "smoothie-service" saw nothing

  @local-only
  Scenario: A Google ID token issued in the future is refused
    Given a Google ID token for "<gateway service account>" that is not valid for another 10 minutes
    When the client calls the load balancer with GET "/smoothie"
    Then the response status is 401
    And the response body contains "Invalid IAP credentials"
    And the answer came from IAP

  @local-only
  Scenario: A Google ID token without an email is refused with "JWT 'email' claim isn't a string"
    Given a Google ID token for "<gateway service account>" without an email
    When the client calls the load balancer with GET "/smoothie"
    Then the response status is 401
    And the response body is "Invalid IAP credentials: JWT 'email' claim isn't a string"

  @local-only
  Scenario: An unsigned Google ID token with alg "none" is refused as badly signed
    Given an unsigned Google ID token for "<gateway service account>" with alg "none"
    When the client calls the load balancer with GET "/smoothie"
    Then the response status is 401
    And the response body is "Invalid IAP credentials: JWT signature is invalid"

  @local-only
  Scenario: A Google ID token signed with HS256 using Google's public key is refused as badly signed
    Given a Google ID token for "<gateway service account>" signed with HS256 using the issuer's public key
    When the client calls the load balancer with GET "/smoothie"
    Then the response status is 401
    And the response body is "Invalid IAP credentials: JWT signature is invalid"

  @local-only
  Scenario: A Google ID token signed by a key Google never published is refused as badly signed
    Given a Google ID token for "<gateway service account>" signed by an unknown key
    When the client calls the load balancer with GET "/smoothie"
    Then the response status is 401
    And the response body is "Invalid IAP credentials: JWT signature is invalid"

  @local-only
  Scenario: A rogue token edited to name the gateway's account is refused as badly signed
    Given a Google ID token for "<rogue service account>" tampered after signing to set "email" to "<gateway service account>"
    When the client calls the load balancer with GET "/smoothie"
    Then the response status is 401
    And the response body is "Invalid IAP credentials: JWT signature is invalid"
    And "smoothie-service" saw nothing

  Scenario: A Firebase user's token is not enough to pass IAP directly
    Given a signed-in Firebase user "alice@example.com"
    When the client calls the load balancer with GET "/smoothie"
    Then the response status is 401
    And the response body is "Invalid IAP credentials: JWT signature is invalid"
    And "smoothie-service" saw nothing

  @local-only
  Scenario: A service account's self-signed JWT for the resource URL passes IAP
    Given a self-signed JWT of service account "<gateway service account>" for audience "<load balancer URL>/smoothie"
    When the client calls the load balancer with GET "/smoothie"
    Then the response is smoothie data
    And "smoothie-service" saw the IAP-verified identity "<gateway service account>"

  @local-only
  Scenario: A service account's self-signed JWT with a wildcard audience covers the paths below it
    Given a self-signed JWT of service account "<gateway service account>" for audience "<load balancer URL>/coffee/*"
    When the client calls the load balancer with GET "/coffee/methods/v60"
    Then the response status is 200
    And the response JSON at "/id" is "v60"

  @local-only
  Scenario: A service account's self-signed JWT for another resource URL is refused
    Given a self-signed JWT of service account "<gateway service account>" for audience "<load balancer URL>/coffee"
    When the client calls the load balancer with GET "/smoothie"
    Then the response status is 401
    And the response body is "Invalid IAP credentials: Invalid bearer token. Invalid JWT audience."

  @local-only
  Scenario: A rogue service account's self-signed JWT is authenticated but has no access
    Given a self-signed JWT of service account "<rogue service account>" for audience "<load balancer URL>/smoothie"
    When the client calls the load balancer with GET "/smoothie"
    Then the response status is 403
    And the response body contains "You don't have access"

  Scenario: IAP reads Proxy-Authorization first, so the app keeps its own Authorization header
    Given a Google ID token from the metadata server for audience "<IAP client id>"
    And the client sends its token in the "Proxy-Authorization" header
    When the client calls the load balancer with GET "/smoothie" and header "Authorization: Bearer app-session-token"
    Then the response is smoothie data
    And "smoothie-service" saw the header "Authorization" with value "Bearer app-session-token"
    And "smoothie-service" did not see the header "Proxy-Authorization"

  Scenario: Client-supplied identity headers never reach the service
    Given a Google ID token from the metadata server for audience "<IAP client id>"
    When the client calls the load balancer with GET "/smoothie" and header "X-Goog-Authenticated-User-Email: accounts.google.com:admin@corp.com"
    Then the response is smoothie data
    And "smoothie-service" did not see the header "x-goog-authenticated-user-email" from the client
    And "smoothie-service" saw the header "x-goog-authenticated-user-email" with value "accounts.google.com:<gateway service account>"

  Scenario: A client-supplied IAP assertion is replaced by IAP's own
    Given a Google ID token from the metadata server for audience "<IAP client id>"
    And the client holds an IAP assertion for "smoothie-service" as "admin@corp.com" signed by an unknown key
    When the client calls the load balancer with GET "/smoothie"
    Then the response is smoothie data
    And "smoothie-service" did not see the header "x-goog-iap-jwt-assertion" from the client
    And "smoothie-service" saw the IAP-verified identity "<gateway service account>"

  Scenario: Identity headers sent to the gateway are stripped before the service too
    Given a signed-in Firebase user "alice@example.com"
    When the client calls the gateway with GET "/smoothie/whoami" and header "X-Goog-Authenticated-User-Email: accounts.google.com:admin@corp.com"
    Then the response status is 200
    And the response JSON at "/email" is "<gateway service account>"
    And "smoothie-service" did not see the header "x-goog-authenticated-user-email" from the client

  Scenario: gcp-iap-mode=IDENTITY answers who IAP thinks the caller is
    Given a Google ID token from the metadata server for audience "<IAP client id>"
    When the client calls the load balancer with GET "/smoothie?gcp-iap-mode=IDENTITY"
    Then the response status is 200
    And the response JSON at "/email" is "accounts.google.com:<gateway service account>"
    And the answer came from IAP

  @local-only
  Scenario: gcp-iap-mode=IDENTITY answers even a caller without access, and nothing reaches the service
    Given a Google ID token for "<rogue service account>" with audience "<IAP client id>"
    When the client calls the load balancer with GET "/coffee?gcp-iap-mode=IDENTITY"
    Then the response status is 200
    And the response JSON at "/email" is "accounts.google.com:<rogue service account>"
    And "coffee-service" saw nothing

  Scenario: gcp-iap-mode=CLEAR_LOGIN_COOKIE clears IAP's cookie and sends the caller back to the app
    Given a Google ID token from the metadata server for audience "<IAP client id>"
    When the client calls the load balancer with GET "/smoothie?gcp-iap-mode=CLEAR_LOGIN_COOKIE"
    Then the response status is 302
    And the response header "Location" starts with "https://<domain>/"
    And the response header "Set-Cookie" contains "Max-Age=0"


  @isolated @local-only
  Scenario: Removing the gateway from coffee-service's IAP access list closes coffee but not smoothie
    Given the gateway service account is removed from the IAP access list of "coffee-service"
    And a signed-in Firebase user "alice@example.com"
    When the client calls the gateway with GET "/coffee"
    Then the response status is 403
    And the response body contains "You don't have access"
    And "coffee-service" saw nothing
    When the client calls the gateway with GET "/smoothie"
    Then the response is smoothie data

  @isolated @local-only
  Scenario: Granting the rogue account access to smoothie-service lets it in there only
    Given the rogue service account is added to the IAP access list of "smoothie-service"
    And a Google ID token for "<rogue service account>" with audience "<IAP client id>"
    When the client calls the load balancer with GET "/smoothie"
    Then the response is smoothie data
    And "smoothie-service" saw the IAP-verified identity "<rogue service account>"
    When the client calls the load balancer with GET "/coffee"
    Then the response status is 403

  @local-only
  Scenario: A programmatic client listed in the IAP settings is accepted as a token audience
    Given a fortress where fortress.yaml sets "iap.programmaticClients" to "[\"555-cli.apps.googleusercontent.com\"]"
    And a Google ID token for "<gateway service account>" with audience "555-cli.apps.googleusercontent.com"
    When the client calls the load balancer with GET "/smoothie"
    Then the response is smoothie data

  @local-only
  Scenario: A project-wide IAP binding grants access to every backend service
    Given a fortress where fortress.yaml sets "iap.bindings" to "[{\"role\":\"roles/iap.httpsResourceAccessor\",\"members\":[\"serviceAccount:rogue-sa@my-project.iam.gserviceaccount.com\"]}]"
    And a Google ID token for "<rogue service account>" with audience "<IAP client id>"
    When the client calls the load balancer with GET "/coffee"
    Then the response is coffee data

  Scenario: The assertion IAP signs for one backend is for that backend only
    Given a Google ID token from the metadata server for audience "<IAP client id>"
    When the client calls the load balancer with GET "/coffee/whoami"
    Then the response status is 200
    And the response JSON at "/audience" is "<IAP audience of coffee-service>"

  Scenario: A path that merely starts like a service's prefix goes to the default service
    Given a Google ID token from the metadata server for audience "<IAP client id>"
    When the client calls the load balancer with GET "/coffeehouse"
    Then the response status is 404
    And the answer came from "smoothie-service"

  @local-only
  Scenario: A Google-signed token naming another issuer is refused as badly signed
    Given a Google ID token for "<gateway service account>" with issuer "https://evil.example.com"
    When the client calls the load balancer with GET "/smoothie"
    Then the response status is 401
    And the response body is "Invalid IAP credentials: JWT signature is invalid"

  @local-only
  Scenario: A Google ID token with the bare issuer accounts.google.com is accepted like the URL form
    Given a Google ID token for "<gateway service account>" with issuer "accounts.google.com"
    When the client calls the load balancer with GET "/smoothie"
    Then the response is smoothie data

  Scenario: URL map paths are case-sensitive, so /COFFEE is not coffee-service's
    Given a Google ID token from the metadata server for audience "<IAP client id>"
    When the client calls the load balancer with GET "/COFFEE"
    Then the response status is 404
    And the answer came from "smoothie-service"
    And "coffee-service" saw nothing

  Scenario: IAP calls Cloud Run as its service agent and the service never gets a replayable credential
    Given a Google ID token from the metadata server for audience "<IAP client id>"
    When the client calls the load balancer with GET "/smoothie"
    Then the response is smoothie data
    And "smoothie-service" saw the header "x-serverless-authorization" containing "SIGNATURE_REMOVED_BY_GOOGLE"

  Rule: The services verify IAP's assertion themselves (defence in depth)
    IAP's gcp-iap-mode=SECURE_TOKEN_TEST hands the backend a deliberately broken assertion; a
    service that trusts IAP blindly would serve it.

    Background:
      Given a Google ID token from the metadata server for audience "<IAP client id>"

    Scenario: A SECURE_TOKEN_TEST with a valid assertion reaches the service
      When the client calls the load balancer with GET "/smoothie/whoami?gcp-iap-mode=SECURE_TOKEN_TEST&iap-secure-token-test-type=NOT_SET"
      Then the response status is 200
      And the response JSON at "/verified" is "true"

    Scenario Outline: The service itself refuses IAP's deliberately broken <type> assertion
      When the client calls the load balancer with GET "/smoothie/whoami?gcp-iap-mode=SECURE_TOKEN_TEST&iap-secure-token-test-type=<type>"
      Then the response status is 401
      And the response JSON at "/error/rule" is "<rule>"
      And the answer came from "smoothie-service"

      Examples:
        | type            | rule           |
        | FUTURE_ISSUE    | not_yet_valid  |
        | PAST_EXPIRATION | expired        |
        | ISSUER          | wrong_issuer   |
        | AUDIENCE        | wrong_audience |
        | SIGNATURE       | bad_signature  |
