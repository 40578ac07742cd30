"""Strong login through the institution's identity broker (OpenID Connect, R16): the broker
client, the pending login a browser carries to the broker and back, and linking the person
at the broker to a patron."""
