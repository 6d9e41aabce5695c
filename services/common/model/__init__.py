"""What the pipeline's services agree on about features and models: columns, online-store keys,
the model bundle, its artifact format and the registry's reads. No service owns these."""
