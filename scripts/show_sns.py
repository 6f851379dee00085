"""Prints the SNS messages the emulator stored (moto's /moto-api/data.json)."""

import json
import os
import urllib.request

data = json.load(urllib.request.urlopen(os.environ["AWS_ENDPOINT_URL"] + "/moto-api/data.json"))
for topic in data.get("sns", {}).get("Topic", []):
    for notification in topic.get("sent_notifications", []):
        print(f"--- {topic['arn']}\nSubject: {notification[2]}\n{notification[1]}")
