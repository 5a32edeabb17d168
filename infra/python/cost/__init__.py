"""`make cost`: the AWS bill of the bridge per million messages, counted on the local stack."""
