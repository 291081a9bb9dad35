"""The persistent job queue: model, store, scheduler, executor."""
