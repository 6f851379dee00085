"""Prints the SNS messages the emulator stored (moto's /moto-api/data.json);
an AWS Chatbot custom notification (ChatTopicName) is shown indented."""

import json
import os
import urllib.request

data = json.load(urllib.request.urlopen(os.environ["AWS_ENDPOINT_URL"] + "/moto-api/data.json"))
for topic in data.get("sns", {}).get("Topic", []):
    for notification in topic.get("sent_notifications", []):
        message = notification[1]
        try:
            parsed = json.loads(message)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and parsed.get("source") == "custom":
            message = json.dumps(parsed, indent=2, ensure_ascii=False)
        print(f"--- {topic['arn']}\nSubject: {notification[2]}\n{message}")
