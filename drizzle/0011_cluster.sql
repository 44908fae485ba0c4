CREATE TABLE `workers` (
	`id` text PRIMARY KEY NOT NULL,
	`host` text NOT NULL,
	`pid` integer NOT NULL,
	`started_at` integer NOT NULL,
	`seen_at` integer NOT NULL
);
--> statement-breakpoint
ALTER TABLE `runs` ADD `occurrence` integer;--> statement-breakpoint
ALTER TABLE `runs` ADD `worker_id` text;--> statement-breakpoint
CREATE UNIQUE INDEX `runs_bot_occurrence_unique` ON `runs` (`bot_id`,`occurrence`);--> statement-breakpoint
CREATE INDEX `runs_worker_idx` ON `runs` (`worker_id`);