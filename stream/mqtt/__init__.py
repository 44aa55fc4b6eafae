"""``emostream mqtt``: the stream bridged to MQTT, with Home Assistant discovery.

:mod:`~stream.mqtt.topics` is the contract (topics and payloads), :mod:`~stream.mqtt.bridge`
decides what to send, :mod:`~stream.mqtt.client` sends it through paho-mqtt.
"""
