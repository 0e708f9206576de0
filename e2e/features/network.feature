@containers
Feature: Only the emulator bridges the client side and the services (container runtime)

  In the container runtime the services sit on an internal network with no published port;
  the client side (the gateway and the emulator's public face) is another network. These
  scenarios send from probe containers on those networks, since the host itself can reach an
  internal container by its address.

  Background:
    Given the fortress is running

  Scenario Outline: From the client side a service's own address does not answer
    When a container on the public network connects to "<service>" on port 8080
    Then every connection failed within 2 seconds

    Examples:
      | service          |
      | smoothie-service |
      | coffee-service   |

  Scenario: A service's network cannot reach the client side
    When a container on the internal network connects to "gateway" on port 8080
    Then every connection failed within 2 seconds

  Scenario: The emulator answers on the client side
    When a container on the public network connects to "emulator" on port 8080
    Then the connection succeeded

  Scenario: The emulator reaches the services on their network
    When a container on the internal network connects to "smoothie-service" on port 8080
    Then the connection succeeded

  Scenario: The services are reached through the load balancer only
    Given a signed-in Firebase user "alice@example.com"
    When the client calls the gateway with GET "/smoothie/whoami"
    Then the response status is 200
