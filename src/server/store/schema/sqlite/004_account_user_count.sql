-- The number of users of each account, kept by triggers, so that reading an account gives
-- its userCount without counting (get-account reads the account authentication loaded).
ALTER TABLE accounts ADD COLUMN user_count INTEGER NOT NULL DEFAULT 0;
UPDATE accounts SET user_count = (SELECT count(*) FROM users WHERE users.account_id = accounts.id);
CREATE TRIGGER users_count_insert AFTER INSERT ON users BEGIN
	UPDATE accounts SET user_count = user_count + 1 WHERE id = NEW.account_id;
END;
CREATE TRIGGER users_count_delete AFTER DELETE ON users BEGIN
	UPDATE accounts SET user_count = user_count - 1 WHERE id = OLD.account_id;
END;
CREATE TRIGGER users_count_move AFTER UPDATE OF account_id ON users
WHEN OLD.account_id <> NEW.account_id BEGIN
	UPDATE accounts SET user_count = user_count - 1 WHERE id = OLD.account_id;
	UPDATE accounts SET user_count = user_count + 1 WHERE id = NEW.account_id;
END;
