CREATE INDEX `events_created_at_idx` ON `events` (`created_at`);--> statement-breakpoint
CREATE INDEX `events_run_idx` ON `events` (`run_id`);--> statement-breakpoint
CREATE INDEX `results_run_idx` ON `results` (`run_id`);--> statement-breakpoint
CREATE INDEX `run_logs_ts_idx` ON `run_logs` (`ts`);--> statement-breakpoint
CREATE INDEX `runs_finished_idx` ON `runs` (`finished_at`);