@containers @serial
Feature: Only the emulator bridges the client side and the services (container runtime)

  In the container runtime the services sit on an internal network with no published port;
  the client side (the gateway and the emulator's public face) is another network. These
  scenarios send from probe containers on those networks, since the host itself can reach an
  internal container by its address.

  They run alone (tag serial): whenever Docker sets up a bridge network it deletes FORWARD's
  jump to DOCKER-ISOLATION-STAGE-1 and inserts it again (libnetwork's EnsureJumpRule), so while
  an isolated scenario creates its own networks there is a moment in which nothing separates
  two bridges. A probe that retransmits its SYN in that moment connects across them (seen once
  in CI: 172.23.0.3:8080 "connected in 1007 ms" from the public network). That window belongs
  to the local Docker host, not to the topology these scenarios prove, so no network is
  created or removed while they run.

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
